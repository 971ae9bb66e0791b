// The case page's encrypted evidence: her files were encrypted in her browser (AES-256-GCM under a
// PBKDF2-SHA-256 key from her passphrase, as the portal's portal.js does). The caseworker types the
// passphrase she gives into this page; the key is derived and the file decrypted here. The passphrase
// is never sent: the server only hands over the ciphertext (and logs that it did).
const section = document.getElementById("evidence");
if (section) setUp(section);

function unhex(s) {
  return Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
}

async function keyFrom(pass, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(pass), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
}

function setUp(root) {
  const m = root.dataset;
  const status = document.getElementById("sealed-status");
  const pass = document.getElementById("sealed-pass");
  if (!status || !pass) return;
  for (const button of root.querySelectorAll("[data-open-sealed]")) {
    button.addEventListener("click", async () => {
      if (!pass.value) { status.textContent = m.msgNeedPass; pass.focus(); return; }
      status.textContent = m.msgWorking;
      const p = JSON.parse(button.dataset.params);
      const resp = await fetch(button.dataset.openSealed, { credentials: "same-origin" });
      if (!resp.ok) { status.textContent = `${m.msgFailed} (${resp.status})`; return; }
      let plain;
      try {
        const key = await keyFrom(pass.value, unhex(p.salt), p.iterations);
        plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: unhex(p.iv) }, key, await resp.arrayBuffer()));
      } catch (_) { status.textContent = m.msgWrongPass; return; }
      // the portal puts the file's name and type before the bytes, inside the ciphertext
      const nl = plain.indexOf(10);
      let meta = {};
      try { meta = JSON.parse(new TextDecoder().decode(plain.slice(0, nl))); } catch (_) { meta = {}; }
      const blob = new Blob([plain.slice(nl + 1)], { type: typeof meta.type === "string" ? meta.type : "application/octet-stream" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = typeof meta.name === "string" && meta.name ? meta.name : "evidence";
      a.textContent = a.download;  // text, never markup: the name is hers
      const line = document.createElement("span");
      line.textContent = `${m.msgOpened} `;
      status.replaceChildren(line, a);
    });
  }
}
