// SHA-256's and MD5's block functions in WebAssembly, for ./sha256.js and ./md5.js (an ES module).
//
//   const wasm = await loadWasmBlocks();             // null where WebAssembly cannot be had
//   const sha = wasm ? new Sha256(wasm.sha256) : new Sha256();
//   const md5 = wasm ? new Md5(wasm.md5) : new Md5();
//
// ./hashes.wasm is written byte by byte by tests/portal/wasmgen.py (no toolchain; the test suite
// rebuilds it and checks the committed file). It has no imports, so it can reach nothing but its own
// 128-KiB memory: a state at STATE, up to DATA_BYTES of whole blocks at DATA. Buffering, padding and
// the digest stay in Sha256 and Md5, shared with the JavaScript path, which is the fallback: a browser
// without WebAssembly, a Content-Security-Policy without 'wasm-unsafe-eval', a failed fetch or a
// module that gives a wrong answer to the check below all leave the JavaScript rounds in use.

import { Md5 } from './md5.js';
import { Sha256 } from './sha256.js';

// the module's memory layout (wasmgen.py: STATE, DATA, DATA_BYTES)
const STATE = 0;
const DATA = 256;
const DATA_BYTES = 65536;

const MODULE_URL = new URL('./hashes.wasm', import.meta.url);

/** The module's bytes, from this origin (the worker's CSP allows 'self' only). */
function moduleBytes() {
  return fetch(MODULE_URL, { credentials: 'same-origin' }).then((r) => {
    if (!r.ok) throw new Error(`hashes.wasm: HTTP ${r.status}`);
    return r.arrayBuffer();
  });
}

/**
 * Block functions for Sha256 and Md5 from the module's bytes (an ArrayBuffer or typed array):
 * { sha256, md5 }. Rejects if the module cannot be compiled here or does not give the hashes'
 * answers on a known input.
 */
export async function wasmBlocks(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const { memory } = instance.exports;
  const heap = new Uint8Array(memory.buffer); // the memory cannot grow (max = min): this view stays valid
  // One memory for both: each call copies its state and blocks in and its state out, and calls
  // never interleave (a worker runs one at a time), so one hasher never sees another's bytes.
  const blocksOf = (compress, words) => {
    const state = new Int32Array(memory.buffer, STATE, words);
    return (hs, x, start, end) => {
      state.set(hs);
      for (let at = start; at < end; at += DATA_BYTES) {
        const stop = Math.min(end, at + DATA_BYTES);
        heap.set(x.subarray(at, stop), DATA); // a copy in 64-KiB pieces: memory stays flat
        compress(STATE, DATA, (stop - at) >> 6);
      }
      hs.set(state);
    };
  };
  const fns = { sha256: blocksOf(instance.exports.sha256, 8), md5: blocksOf(instance.exports.md5, 4) };
  // Known answers before first use (this also catches a big-endian host, where Int32Array and
  // WebAssembly's little-endian memory would disagree): 1,000 bytes, 15 blocks and a tail.
  const probe = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 255);
  if (new Sha256(fns.sha256).update(probe).hex() !== new Sha256().update(probe).hex()
      || new Md5(fns.md5).update(probe).hex() !== new Md5().update(probe).hex()) {
    throw new Error('hashes.wasm: wrong digest');
  }
  return fns;
}

/**
 * The WebAssembly block functions ({ sha256, md5 }), or null where they cannot be had (the
 * JavaScript rounds then do the work). `source` is for tests: a function returning the module's
 * bytes (default: fetch them).
 */
export async function loadWasmBlocks(source = moduleBytes) {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') return null;
  try {
    return await wasmBlocks(await source());
  } catch (err) {
    return null;
  }
}
