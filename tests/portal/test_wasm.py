"""The WebAssembly SHA-256 and MD5 (``static/js/hashes.wasm``): rebuilt byte for byte, right in Node.

The browser side (the worker using them, the fallback under a CSP without 'wasm-unsafe-eval') is in
``test_hashing.py``; here the module and its glue (``wasm-hashes.js``) are checked against hashlib
on many lengths and every split of a message, faster than a browser could, where Node is installed.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.portal import codegen, wasmgen

HERE = Path(__file__).resolve().parent


def test_generated_wasm_is_current() -> None:
    committed = (codegen.JS_DIR / wasmgen.WASM_NAME).read_bytes()
    assert committed == wasmgen.hashes_wasm(), "run: python tests/portal/wasmgen.py (hashes.wasm is stale)"


def _sections(module: bytes) -> list[tuple[int, bytes]]:
    assert module[:8] == b"\x00asm\x01\x00\x00\x00"
    out, at = [], 8
    while at < len(module):
        sid, at = module[at], at + 1
        size = shift = 0
        while True:
            byte, at = module[at], at + 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out.append((sid, module[at : at + size]))
        at += size
    assert at == len(module)
    return out


def test_the_module_imports_nothing_and_its_memory_is_fixed() -> None:
    """No import section: the code can reach nothing outside its own memory (no host functions, no
    network, no DOM); the memory's maximum equals its minimum, so it never grows with a file."""
    sections = dict(_sections(wasmgen.hashes_wasm()))
    assert sorted(sections) == [1, 3, 5, 7, 10]  # types, functions, memory, exports, code
    assert sections[5] == bytes([1, 0x01, wasmgen.PAGES, wasmgen.PAGES])
    exports = sections[7]
    assert exports[0] == 3 and all(n in exports for n in (b"memory", b"sha256", b"md5"))


def test_leb128() -> None:
    assert wasmgen.uleb(0) == [0] and wasmgen.uleb(624485) == [0xE5, 0x8E, 0x26]
    assert wasmgen.sleb(-123456) == [0xC0, 0xBB, 0x78]
    assert wasmgen.sleb(63) == [63] and wasmgen.sleb(64) == [0xC0, 0]
    assert wasmgen.const(0xFFFFFFFF) == [0x41, 0x7F]


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node") or shutil.which("nodejs")
    if not exe:
        pytest.skip("Node.js not found (the browser tests check the module too)")
    return exe


def run_node(node: str, tmp: Path, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Copy the engine and the driver into ``tmp`` as an ES-module package and run the cases."""
    for name in ("sha256.js", "md5.js", "wasm-hashes.js", wasmgen.WASM_NAME):
        shutil.copy(codegen.JS_DIR / name, tmp / name)
    shutil.copy(HERE / "hashes_node.mjs", tmp / "driver.mjs")
    (tmp / "package.json").write_text('{"type": "module"}')
    # one bit of one round constant: modules that compile and hash wrong
    wrong_sha, wrong_md5 = list(codegen.SHA_K), list(codegen.MD5_K)
    wrong_sha[17] ^= 1 << 9
    wrong_md5[40] ^= 1 << 3
    (tmp / "wrong-sha256.wasm").write_bytes(wasmgen.hashes_wasm(sha256_consts=wrong_sha))
    (tmp / "wrong-md5.wasm").write_bytes(wasmgen.hashes_wasm(md5_consts=wrong_md5))
    (tmp / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run(
        [node, "driver.mjs", "cases.json", wasmgen.WASM_NAME, "wrong-sha256.wasm", "wrong-md5.wasm"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_wasm_hashes_equal_hashlib_in_node(node: str, tmp_path: Path) -> None:
    rng = random.Random(15)
    piece = wasmgen.DATA_BYTES  # the glue copies whole blocks into the module this many at a time
    lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 4095, 65535, piece, piece + 1]
    lengths += [2 * piece + 64, 3 * piece - 1] + [rng.randrange(1, 4 << 20) for _ in range(6)]
    cases: list[dict[str, Any]] = []
    wants: list[Any] = []
    for i, n in enumerate(lengths):
        data = rng.randbytes(n)
        path = tmp_path / f"data-{i}.bin"
        path.write_bytes(data)
        want = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
        # whole; in uneven pieces (1, 3, 7, ... bytes, so buffered and unaligned updates); in random pieces
        cases.append({"path": str(path), "pieces": []})
        wants.append(want)
        grow, at, step = [], 0, 1
        while at + step < n:
            grow.append(step)
            at, step = at + step, step * 2 + 1
        cases.append({"path": str(path), "pieces": grow})
        wants.append(want)
        cuts = sorted(rng.randrange(n + 1) for _ in range(8))
        cases.append({"path": str(path), "pieces": [b - a for a, b in zip([0, *cuts], cuts, strict=False)]})
        wants.append(want)
    # every split in two: a 300-byte message at each offset, and around a 64-KiB piece boundary
    for n, lo, hi in ((300, 0, 300), (piece + 300, piece - 130, piece + 130)):
        data = rng.randbytes(n)
        path = tmp_path / f"split-{n}.bin"
        path.write_bytes(data)
        cases.append({"path": str(path), "splitFrom": lo, "splitTo": hi})
        n_splits = hi - lo + 1
        wants.append(
            ([hashlib.sha256(data).hexdigest()] * n_splits, [hashlib.md5(data).hexdigest()] * n_splits)
        )
    out = run_node(node, tmp_path, cases)
    for case, got, (sha, md5) in zip(cases, out["cases"], wants, strict=True):
        assert got["sha256_wasm"] == got["sha256_js"] == sha, case
        assert got["md5_wasm"] == got["md5_js"] == md5, case


def test_loading_falls_back_to_javascript_when_webassembly_fails(node: str, tmp_path: Path) -> None:
    """loadWasmBlocks gives the block functions only for a module that compiles and answers right;
    otherwise null, and Sha256 and Md5 keep their JavaScript rounds."""
    out = run_node(node, tmp_path, [])
    assert out["load"] == {
        "bytes": "md5,sha256",
        "wrong_sha256": "null",  # the known-answer checks before first use
        "wrong_md5": "null",
        "not_a_module": "null",
        "fetch_failed": "null",
        "no_webassembly": "null",
    }
