// The review grid's keyboard (Autopsy-style): the number keys categorise the focused item, 0 clears
// it, the arrow keys move between tiles. Everything else works without this file (the item page
// has a category form). Posts carry the session's CSRF token in X-CSRF-Token.
const root = document.querySelector("[data-review]");

function tiles() {
  return Array.from(document.querySelectorAll("li.tile"));
}

function focusedTile() {
  const el = document.activeElement;
  return el ? el.closest("li.tile") : null;
}

function focusTile(tile) {
  const link = tile && tile.querySelector("a.thumb");
  if (link) {
    link.focus();
    link.scrollIntoView({ block: "nearest" });
  }
}

function announce(text) {
  const live = document.querySelector("[data-announce]");
  if (live) live.textContent = text;
}

function categories() {
  const out = new Map();
  for (const li of document.querySelectorAll("[data-categories] li")) {
    out.set(li.dataset.n, li.dataset.key || null);
  }
  return out;
}

async function categorise(tile, category) {
  tile.classList.add("saving");
  try {
    const response = await fetch(`/review/${root.dataset.scan}/categorise`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify({ items: [Number(tile.dataset.item)], category, lang: root.dataset.lang }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      announce(answer.message || root.dataset.msgFailed);
      return;
    }
    const badge = tile.querySelector('[data-role="category"]');
    if (badge) badge.textContent = answer.label || badge.dataset.none;
    tile.classList.toggle("done", Boolean(category));
    if (category) tile.dataset.category = category;
    else delete tile.dataset.category;
    const done = document.querySelector("[data-progress-done]");
    const bar = document.querySelector("[data-progress-bar]");
    if (done && typeof answer.categorised === "number") done.textContent = answer.categorised.toLocaleString();
    if (bar && typeof answer.categorised === "number") bar.value = answer.categorised;
    announce(answer.message || "");
  } catch (err) {
    announce(root.dataset.msgFailed);
  } finally {
    tile.classList.remove("saving");
  }
}

function below(tile, list, direction) {
  // the nearest tile in the next (or previous) row, by position on screen
  const r = tile.getBoundingClientRect();
  const x = r.left + r.width / 2;
  let best = null;
  let bestScore = Infinity;
  for (const other of list) {
    if (other === tile) continue;
    const o = other.getBoundingClientRect();
    const dy = direction > 0 ? o.top - r.bottom : r.top - o.bottom;
    if (dy < -2) continue;
    const score = dy * 10 + Math.abs(o.left + o.width / 2 - x);
    if (score < bestScore) {
      bestScore = score;
      best = other;
    }
  }
  return best;
}

if (root) {
  const keys = categories();
  const readOnly = root.dataset.readOnly === "true";
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const tile = focusedTile();
    const list = tiles();
    if (!list.length) return;
    if (/^[0-9]$/.test(event.key) && tile && !readOnly && keys.has(event.key)) {
      event.preventDefault();
      categorise(tile, keys.get(event.key));
      return;
    }
    let next = null;
    const at = tile ? list.indexOf(tile) : -1;
    if (event.key === "ArrowRight") next = list[Math.min(list.length - 1, at + 1)];
    else if (event.key === "ArrowLeft") next = list[Math.max(0, at - 1)];
    else if (event.key === "ArrowDown") next = tile ? below(tile, list, 1) : list[0];
    else if (event.key === "ArrowUp") next = tile ? below(tile, list, -1) : list[0];
    if (next) {
      event.preventDefault();
      focusTile(next);
    }
  });

  // New items while a scan is still running: say so (polled; the page itself stays as it was).
  const shown = Number(root.dataset.items || "0");
  const banner = document.querySelector("[data-new-items]");
  if (banner && root.dataset.items) {
    const poll = async () => {
      try {
        const response = await fetch(`/review/${root.dataset.scan}/status`, { credentials: "same-origin" });
        if (!response.ok) return;
        const status = await response.json();
        if (status.items > shown) {
          banner.querySelector("[data-new-text]").textContent = root.dataset.msgNew.replace(
            "{n}",
            (status.items - shown).toLocaleString(),
          );
          banner.hidden = false;
        }
      } catch (err) {
        // offline for a moment: try again at the next tick
      }
    };
    setInterval(poll, 15000);
  }
}
