// SHA-256's block function in WebAssembly, for ./sha256.js's Sha256 (an ES module; no globals).
//
//   const blockFn = await loadWasmBlocks();          // null where WebAssembly is unavailable
//   const hex = new Sha256(blockFn ?? undefined).update(bytes).hex();
//
// ./sha256.wasm is written byte by byte by tests/portal/wasmgen.py (no toolchain; the test suite
// rebuilds it and checks the committed file). It has no imports, so it can reach nothing but its own
// 128-KiB memory: the state at STATE, up to DATA_BYTES of whole blocks at DATA. Buffering, padding and
// the digest stay in Sha256, shared with the JavaScript path, which is the fallback: a browser without
// WebAssembly, a Content-Security-Policy without 'wasm-unsafe-eval', a failed fetch or a module that
// gives a wrong answer to the check below all leave the JavaScript rounds in use.

import { Sha256 } from './sha256.js';

// the module's memory layout (wasmgen.py: STATE, DATA, DATA_BYTES)
const STATE = 0;
const DATA = 256;
const DATA_BYTES = 65536;

const MODULE_URL = new URL('./sha256.wasm', import.meta.url);

/** The module's bytes, from this origin (the worker's CSP allows 'self' only). */
function moduleBytes() {
  return fetch(MODULE_URL, { credentials: 'same-origin' }).then((r) => {
    if (!r.ok) throw new Error(`sha256.wasm: HTTP ${r.status}`);
    return r.arrayBuffer();
  });
}

/**
 * A block function for Sha256 from the module's bytes (an ArrayBuffer or typed array). Rejects if the
 * module cannot be compiled here or does not give SHA-256's answer on a known input.
 */
export async function wasmBlocks(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const { memory, compress } = instance.exports;
  const heap = new Uint8Array(memory.buffer); // the memory cannot grow (max = min): this view stays valid
  const state = new Int32Array(memory.buffer, STATE, 8);
  const blockFn = (hs, x, start, end) => {
    state.set(hs);
    for (let at = start; at < end; at += DATA_BYTES) {
      const stop = Math.min(end, at + DATA_BYTES);
      heap.set(x.subarray(at, stop), DATA); // a copy in 64-KiB pieces: memory stays flat
      compress(STATE, DATA, (stop - at) >> 6);
    }
    hs.set(state);
  };
  // Known answer before first use (this also catches a big-endian host, where Int32Array and
  // WebAssembly's little-endian memory would disagree): 1,000 bytes, 15 blocks and a tail.
  const probe = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 255);
  const want = new Sha256().update(probe).hex();
  if (new Sha256(blockFn).update(probe).hex() !== want) throw new Error('sha256.wasm: wrong digest');
  return blockFn;
}

/**
 * The WebAssembly block function, or null where it cannot be had (the JavaScript rounds then do the
 * work). `source` is for tests: a function returning the module's bytes (default: fetch them).
 */
export async function loadWasmBlocks(source = moduleBytes) {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') return null;
  try {
    return await wasmBlocks(await source());
  } catch (err) {
    return null;
  }
}
