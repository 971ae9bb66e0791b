// takeback portal: the page's own behaviour. No third-party code, no inline script (the CSP
// forbids it), no request to another host. Files are hashed in this browser (hashing.js, in a
// worker); only hashes leave it.

const body = document.body;

// --- quick exit: the button, and Shift pressed three times (each within 5 s), as GOV.UK's
// "Exit this page". location.replace() keeps this page out of the back history where it can.
function quickExit(event) {
  if (event) event.preventDefault();
  const overlay = document.querySelector(".exit-overlay");
  if (overlay) overlay.hidden = false;
  document.title = "Loading…";
  const target = body.dataset.exitUrl || "about:blank";
  try { sessionStorage.clear(); } catch (_) { /* private mode */ }
  window.location.replace(target);
}

for (const el of document.querySelectorAll("[data-exit]")) el.addEventListener("click", quickExit);

let shiftPresses = 0;
let shiftTimer = null;
document.addEventListener("keydown", (e) => {
  if (e.key !== "Shift" || e.repeat) return;
  shiftPresses += 1;
  clearTimeout(shiftTimer);
  if (shiftPresses >= 3) { shiftPresses = 0; quickExit(); return; }
  shiftTimer = setTimeout(() => { shiftPresses = 0; }, 5000);
});

for (const el of document.querySelectorAll("[data-print]")) el.addEventListener("click", () => window.print());

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (e) => { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); });
}

// --- hashing her files (submit page) -------------------------------------------------------------

const submitForm = document.getElementById("submit-form");
if (submitForm) setUpSubmit(submitForm);

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

function problemText(problem, table) {
  // The page's own words for a hashing problem (the catalogue, in the page's language), filled in
  // from the problem's params; the engine's English message when the page has no words for it.
  if (!problem) return "";
  const words = table[problem.code];
  if (!words) return problem.message || problem.code;
  const p = problem.params || {};
  const values = {
    format: p.format ?? "",
    width: p.width ? Number(p.width).toLocaleString() : "",
    height: p.height ? Number(p.height).toLocaleString() : "",
    megapixels: p.width && p.height ? Math.round((p.width * p.height) / 1e6).toLocaleString() : "",
    limit_mb: p.limit ? Math.round(p.limit / 1048576).toLocaleString() : "",
    limit_mp: p.limit ? Math.round(p.limit / 1e6).toLocaleString() : "",
  };
  if (problem.code === "video_too_long") { // durations in the page's words
    const dur = (s) => (s >= 120
      ? fill(table["@minutes"] || "{n} minutes", { n: Math.round(s / 60).toLocaleString() })
      : fill(table["@seconds"] || "{n} seconds", { n: Math.round(s).toLocaleString() }));
    values.seconds = dur(p.seconds || 0);
    values.limit = dur(p.limit || 0);
  }
  return fill(words, values);
}

function setUpSubmit(form) {
  // The engine loads in the background; the listener is attached at once, so a choice made
  // before it has loaded is not lost (it waits for the engine).
  const engine = import("./hashing.js").then((m) => { m.warmUp(); return m; });
  const pick = document.getElementById("pick");
  const list = document.getElementById("file-list");
  const progress = document.getElementById("progress");
  const send = document.getElementById("send");
  const out = document.getElementById("files-json");
  const max = Number(form.dataset.maxFiles || "100");
  const msg = progress.dataset;
  const problems = JSON.parse(form.dataset.problems || "{}");
  const videoLimits = JSON.parse(form.dataset.videoLimits || "null") || undefined;
  let running = 0;
  let lastNames = [];

  const onChoose = async () => {
    const { hashFiles } = await engine;
    const files = Array.from(pick.files || []);
    list.replaceChildren();
    out.value = "";
    send.disabled = true;
    if (files.length > max) { progress.textContent = fill(msg.msgTooMany, { n: max }); return; }
    if (!files.length) return;
    const run = ++running;
    const rows = files.map((f) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = f.name; // shown here only: file names never leave the page
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = " …";
      li.append(name, state);
      list.append(li);
      return state;
    });
    let done = 0;
    progress.textContent = fill(msg.msgHashing, { done, n: files.length });
    const results = await hashFiles(files, {
      videoLimits,
      onProgress: (p) => {
        if (run !== running) return;
        if (p.stage === "done") {
          done += 1;
          progress.textContent = fill(msg.msgHashing, { done, n: files.length });
        } else if (typeof p.fraction === "number" && rows[p.index]) {
          rows[p.index].textContent = ` ${Math.round(p.fraction * 100)} %`;
        }
      },
    });
    if (run !== running) return;
    const good = [];
    results.forEach((r, i) => {
      // Sent: photos and videos with their exact hashes, even when the browser could not decode
      // them (then without PDQ, and said so). Not sent: empty files, files that could not be read,
      // and files that are not photos or videos at all.
      const usable = r && r.sha256 && r.md5 && (r.kind === "photo" || r.kind === "video");
      if (!usable) {
        rows[i].textContent = ` — ${msg.msgFailed}: ${problemText(r && r.error, problems)}`;
        rows[i].className = "state bad";
        return;
      }
      const said = r.error || r.note;
      rows[i].textContent = ` — ${msg.msgDone}` + (said ? ` (${problemText(said, problems)})` : "");
      const item = { kind: r.kind === "photo" || r.kind === "video" ? r.kind : "file", sha256: r.sha256, md5: r.md5, size: r.size };
      if (r.pdq) {
        item.kind = "photo";
        item.pdq = r.pdq;
        item.pdq_quality = r.pdq_quality;
        item.dihedral = r.pdq_dihedral || [];
      }
      if (r.vpdq) item.vpdq = r.vpdq; // a video's frame hashes, takeback's text form
      good.push(item);
    });
    lastNames = results.filter((r) => r && r.sha256).map((r) => [r.sha256, r.name]);
    if (!good.length) { progress.textContent = msg.msgNone; return; }
    out.value = JSON.stringify(good);
    progress.textContent = fill(msg.msgReady, { n: good.length });
    send.disabled = false;
    send.focus();
  };
  pick.addEventListener("change", onChoose);
  if (pick.files && pick.files.length) onChoose(); // a choice the browser kept (back button)

  form.addEventListener("submit", (e) => {
    if (!out.value) { e.preventDefault(); return; }
    send.disabled = true; // one submission per click; the server refuses a replay anyway
    // Her own file names stay in this tab only (sessionStorage: gone when the tab closes or quick
    // exit is used), so her case page can show them beside the hashes; the server never has them.
    try {
      const names = JSON.parse(sessionStorage.getItem("takeback-names") || "{}");
      for (const [sha, name] of lastNames) names[sha] = name;
      sessionStorage.setItem("takeback-names", JSON.stringify(names));
    } catch (_) { /* storage off: the names are simply not shown later */ }
  });
}

// --- her case page: her own file names, if this tab still has them ------------------------------

try {
  const names = JSON.parse(sessionStorage.getItem("takeback-names") || "{}");
  for (const row of document.querySelectorAll("tr[data-sha256]")) {
    const name = names[row.dataset.sha256];
    const slot = row.querySelector("[data-local-name]");
    if (name && slot) slot.textContent = ` · ${name}`;
  }
} catch (_) { /* no storage: nothing to show */ }

// --- verifying a receipt in the browser (verify page) --------------------------------------------

const verifyForm = document.getElementById("verify-form");
if (verifyForm) {
  verifyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = document.getElementById("verify-result");
    const m = verifyForm.dataset;
    const receiptFile = document.getElementById("receipt-file").files[0];
    const original = document.getElementById("original-file").files[0];
    if (!receiptFile || !original) return;
    out.textContent = m.msgChecking;
    let r;
    try {
      r = JSON.parse(await receiptFile.text());
      if (r.kind !== "takeback.hash-receipt" || r.version !== 1) throw new Error("kind");
    } catch (_) { out.textContent = m.msgBadReceipt; return; }
    const text = `takeback.hash-receipt v1\ncase: ${r.case}\nreceived_at: ${r.received_at}\n` +
      `sha256: ${r.sha256}\nmd5: ${r.md5}\npdq: ${r.pdq || "-"}\nkey_id: ${r.key_id}\n`;
    const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    let ok = false;
    try {
      const key = await crypto.subtle.importKey("raw", b64(r.public_key), { name: "Ed25519" }, false, ["verify"]);
      ok = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(r.signature), new TextEncoder().encode(text));
    } catch (_) { ok = false; }
    if (!ok) { out.textContent = m.msgBadSig; return; }
    const { hashFiles } = await import("./hashing.js");
    const [mine] = await hashFiles([original], { dihedral: false });
    if (!mine || mine.sha256 !== r.sha256) { out.textContent = m.msgBadFile; return; }
    const sameKey = r.public_key === m.key;
    out.textContent = fill(m.msgOk, { case: r.case, time: r.received_at }) + (sameKey ? "" : " " + m.msgOtherKey);
  });
}

// --- encrypted evidence (case page): AES-256-GCM under a PBKDF2-SHA-256 key from her passphrase;
// the server gets ciphertext, salt, IV and the iteration count, never the passphrase. -------------

const ITERATIONS = 600000;
const sealed = document.getElementById("sealed");
if (sealed) setUpSealed(sealed);

async function keyFrom(pass, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(pass), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

function unhex(s) {
  return Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
}

function setUpSealed(section) {
  const status = document.getElementById("sealed-status");
  const pass = document.getElementById("sealed-pass");
  const m = section.dataset;
  document.getElementById("sealed-save").addEventListener("click", async () => {
    const file = document.getElementById("sealed-file").files[0];
    if (!file) return;
    if (pass.value.length < 10) { status.textContent = m.msgNeedPass; return; }
    if (file.size > 12 * 1024 * 1024) { status.textContent = m.msgTooBig; return; }
    status.textContent = m.msgWorking;
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await keyFrom(pass.value, salt, ITERATIONS);
    // the file's name and type travel inside the ciphertext, so the server learns neither
    const header = new TextEncoder().encode(JSON.stringify({ name: file.name, type: file.type }) + "\n");
    const plain = new Uint8Array(header.length + file.size);
    plain.set(header, 0);
    plain.set(new Uint8Array(await file.arrayBuffer()), header.length);
    const cipher = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain);
    const params = { alg: "AES-GCM", kdf: "PBKDF2", hash: "SHA-256", iterations: ITERATIONS, salt: hex(salt), iv: hex(iv) };
    const resp = await fetch("/case/sealed", {
      method: "POST", body: cipher, credentials: "same-origin",
      headers: { "content-type": "application/octet-stream", "x-form-token": section.dataset.token, "x-sealed-params": JSON.stringify(params) },
    });
    const answer = await resp.json().catch(() => ({}));
    if (answer.token) section.dataset.token = answer.token;
    status.textContent = resp.ok ? m.msgSaved : (answer.message || String(resp.status));
    if (resp.ok) window.location.reload();
  });
  for (const b of section.querySelectorAll("[data-open-sealed]")) {
    b.addEventListener("click", async () => {
      if (!pass.value) { status.textContent = m.msgNeedPass; return; }
      const p = JSON.parse(b.dataset.params);
      const resp = await fetch(`/case/sealed/${b.dataset.openSealed}`, { credentials: "same-origin" });
      if (!resp.ok) { status.textContent = String(resp.status); return; }
      let plain;
      try {
        const key = await keyFrom(pass.value, unhex(p.salt), p.iterations);
        plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: unhex(p.iv) }, key, await resp.arrayBuffer()));
      } catch (_) { status.textContent = m.msgWrongPass; return; }
      const nl = plain.indexOf(10);
      const meta = JSON.parse(new TextDecoder().decode(plain.slice(0, nl)));
      const blob = new Blob([plain.slice(nl + 1)], { type: meta.type || "application/octet-stream" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = meta.name || "evidence";
      a.textContent = meta.name || "evidence";
      status.replaceChildren(a);
      a.click();
    });
  }
}
