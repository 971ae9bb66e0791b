// Node driver for tests/portal/test_wasm.py (run from a copy of static/js with {"type": "module"}).
//
//   node sha256_node.mjs CASES.json sha256.wasm wrong.wasm
//
// For each case, the file's SHA-256 with the WebAssembly block function and with the JavaScript one,
// fed in the case's pieces (`pieces`: sizes, the rest after them) or split in two at every offset
// from `splitFrom` to `splitTo` (`splits`: one digest per offset); then what loadWasmBlocks gives
// when the module is missing, broken, wrong or WebAssembly itself is absent. Prints JSON.

import { readFileSync } from 'node:fs';
import { Sha256 } from './sha256.js';
import { loadWasmBlocks, wasmBlocks } from './sha256-wasm.js';

const [casesPath, wasmPath, wrongPath] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
const engines = [['wasm', await wasmBlocks(readFileSync(wasmPath))], ['js', undefined]];

function digest(blockFn, data, pieces) {
  const sha = new Sha256(blockFn);
  let at = 0;
  for (const n of pieces) {
    sha.update(data.subarray(at, at + n));
    at += n;
  }
  return sha.update(data.subarray(at)).hex();
}

const out = { cases: [], load: {} };
for (const c of cases) {
  const data = readFileSync(c.path);
  const row = {};
  for (const [name, fn] of engines) {
    if (c.splitTo === undefined) row[name] = digest(fn, data, c.pieces);
    else {
      row[name] = [];
      for (let k = c.splitFrom; k <= c.splitTo; k++) row[name].push(digest(fn, data, [k]));
    }
  }
  out.cases.push(row);
}

const kind = (fn) => (fn === null ? 'null' : typeof fn);
out.load.bytes = kind(await loadWasmBlocks(() => readFileSync(wasmPath)));
out.load.wrong_answer = kind(await loadWasmBlocks(() => readFileSync(wrongPath)));
out.load.not_a_module = kind(await loadWasmBlocks(() => new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9])));
out.load.fetch_failed = kind(await loadWasmBlocks(() => Promise.reject(new TypeError('Failed to fetch'))));
const saved = globalThis.WebAssembly;
delete globalThis.WebAssembly;
out.load.no_webassembly = kind(await loadWasmBlocks(() => readFileSync(wasmPath)));
globalThis.WebAssembly = saved;
process.stdout.write(JSON.stringify(out));
