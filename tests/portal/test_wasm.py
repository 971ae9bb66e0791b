"""The WebAssembly SHA-256 (``static/js/sha256.wasm``): rebuilt byte for byte, and right, in Node.

The browser side (the worker using it, the fallback under a CSP without 'wasm-unsafe-eval') is in
``test_hashing.py``; here the module and its glue (``sha256-wasm.js``) are checked against hashlib
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
    assert committed == wasmgen.sha256_wasm(), "run: python tests/portal/wasmgen.py (sha256.wasm is stale)"


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
    sections = dict(_sections(wasmgen.sha256_wasm()))
    assert sorted(sections) == [1, 3, 5, 7, 10]  # types, functions, memory, exports, code
    assert sections[5] == bytes([1, 0x01, wasmgen.PAGES, wasmgen.PAGES])
    exports = sections[7]
    assert b"memory" in exports and b"compress" in exports and exports[0] == 2


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
    for name in ("sha256.js", "sha256-wasm.js", wasmgen.WASM_NAME):
        shutil.copy(codegen.JS_DIR / name, tmp / name)
    shutil.copy(HERE / "sha256_node.mjs", tmp / "driver.mjs")
    (tmp / "package.json").write_text('{"type": "module"}')
    wrong = list(codegen.SHA_K)
    wrong[17] ^= 1 << 9  # one bit of one round constant: a module that compiles and hashes wrong
    (tmp / "wrong.wasm").write_bytes(wasmgen.sha256_wasm(wrong))
    (tmp / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run(
        [node, "driver.mjs", "cases.json", wasmgen.WASM_NAME, "wrong.wasm"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_wasm_sha256_equals_hashlib_in_node(node: str, tmp_path: Path) -> None:
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
        want = hashlib.sha256(data).hexdigest()
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
        wants.append([hashlib.sha256(data).hexdigest()] * (hi - lo + 1))
    out = run_node(node, tmp_path, cases)
    for case, got, want in zip(cases, out["cases"], wants, strict=True):
        assert got["wasm"] == want, case
        assert got["js"] == want, case


def test_loading_falls_back_to_javascript_when_webassembly_fails(node: str, tmp_path: Path) -> None:
    """loadWasmBlocks gives the block function only for a module that compiles and answers right;
    otherwise null, and Sha256 keeps its JavaScript rounds."""
    out = run_node(node, tmp_path, [])
    assert out["load"] == {
        "bytes": "function",
        "wrong_answer": "null",  # the known-answer check before first use
        "not_a_module": "null",
        "fetch_failed": "null",
        "no_webassembly": "null",
    }
