// Node driver for tests/portal/test_wasm.py (run from a copy of static/js with {"type": "module"}).
//
//   node hashes_node.mjs CASES.json hashes.wasm wrong-sha256.wasm wrong-md5.wasm
//
// For each case, the file's SHA-256 and MD5 with the WebAssembly block functions and with the
// JavaScript ones, fed in the case's pieces (`pieces`: sizes, the rest after them) or split in two at
// every offset from `splitFrom` to `splitTo` (one digest per offset); then what loadWasmBlocks gives
// when the module is missing, broken, wrong or WebAssembly itself is absent. Prints JSON.

import { readFileSync } from 'node:fs';
import { Md5 } from './md5.js';
import { Sha256 } from './sha256.js';
import { loadWasmBlocks, wasmBlocks } from './wasm-hashes.js';

const [casesPath, wasmPath, wrongShaPath, wrongMd5Path] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
const wasm = await wasmBlocks(readFileSync(wasmPath));
const hashers = {
  sha256_wasm: () => new Sha256(wasm.sha256),
  sha256_js: () => new Sha256(),
  md5_wasm: () => new Md5(wasm.md5),
  md5_js: () => new Md5(),
};

function digest(make, data, pieces) {
  const h = make();
  let at = 0;
  for (const n of pieces) {
    h.update(data.subarray(at, at + n));
    at += n;
  }
  return h.update(data.subarray(at)).hex();
}

const out = { cases: [], load: {} };
for (const c of cases) {
  const data = readFileSync(c.path);
  const row = {};
  for (const [name, make] of Object.entries(hashers)) {
    if (c.splitTo === undefined) row[name] = digest(make, data, c.pieces);
    else {
      row[name] = [];
      for (let k = c.splitFrom; k <= c.splitTo; k++) row[name].push(digest(make, data, [k]));
    }
  }
  out.cases.push(row);
}

const kind = (fns) => (fns === null ? 'null' : Object.keys(fns).sort().join(','));
out.load.bytes = kind(await loadWasmBlocks(() => readFileSync(wasmPath)));
out.load.wrong_sha256 = kind(await loadWasmBlocks(() => readFileSync(wrongShaPath)));
out.load.wrong_md5 = kind(await loadWasmBlocks(() => readFileSync(wrongMd5Path)));
out.load.not_a_module = kind(await loadWasmBlocks(() => new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9])));
out.load.fetch_failed = kind(await loadWasmBlocks(() => Promise.reject(new TypeError('Failed to fetch'))));
const saved = globalThis.WebAssembly;
delete globalThis.WebAssembly;
out.load.no_webassembly = kind(await loadWasmBlocks(() => readFileSync(wasmPath)));
globalThis.WebAssembly = saved;
process.stdout.write(JSON.stringify(out));
