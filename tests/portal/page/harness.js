// Test harness for the portal's hashing module: what a page does, driven by Playwright.
import { hashFiles, warmUp, DIHEDRAL_NAMES, MAX_PIXELS } from '/static/js/hashing.js';

const violations = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));

const progress = [];
let ticks = 0;
// The page's own thread keeps ticking while the workers hash: the longest gap shows responsiveness.
let last = performance.now();
let longestGap = 0;
setInterval(() => {
  const now = performance.now();
  longestGap = Math.max(longestGap, now - last);
  last = now;
  ticks += 1;
}, 20);

async function run(options = {}) {
  progress.length = 0;
  longestGap = 0;
  last = performance.now();
  const input = document.getElementById('files');
  const files = options.blobs ? options.blobs() : input.files;
  const t0 = performance.now();
  const results = await hashFiles(files, {
    ...options,
    onProgress: (p) => progress.push({ index: p.index, stage: p.stage, fraction: p.fraction }),
  });
  return { results, seconds: (performance.now() - t0) / 1000, progress: progress.slice(), longestGapMs: longestGap, ticks };
}

/** A Blob of `megabytes` MiB made of one repeated pseudo-random 1-MiB chunk (no disk needed). */
function repeatedBlob(megabytes, seed = 1) {
  const chunk = new Uint8Array(1 << 20);
  let x = seed >>> 0;
  for (let i = 0; i < chunk.length; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; chunk[i] = x >>> 24; }
  return new Blob(Array.from({ length: megabytes }, () => chunk), { type: 'application/octet-stream' });
}

window.harness = {
  run,
  warmUp,
  dihedralNames: DIHEDRAL_NAMES,
  maxPixels: MAX_PIXELS,
  violations,
  repeatedBlob,
  runBlob: (megabytes, seed) => run({ blobs: () => [new File([repeatedBlob(megabytes, seed)], 'stream.bin')] }),
};
document.getElementById('status').textContent = 'ready';
