"""The committed unrolled hash files are exactly what tests/portal/codegen.py writes."""

from __future__ import annotations

import pytest

from tests.portal import codegen


@pytest.mark.parametrize("name", sorted(codegen.GENERATED))
def test_generated_js_is_current(name: str) -> None:
    committed = (codegen.JS_DIR / name).read_text(encoding="utf-8")
    assert committed == codegen.GENERATED[name](), f"run: python tests/portal/codegen.py ({name} is stale)"


def test_constants_come_from_their_definitions() -> None:
    assert codegen.SHA_K[63] == 0xC67178F2 and codegen.SHA_H0[7] == 0x5BE0CD19
    assert codegen.MD5_K[63] == 0xEB86D391


def test_the_engine_neither_evals_nor_talks_to_the_network() -> None:
    """Static guard behind the browser tests' CSP: no eval and no way to send a file's bytes anywhere."""
    forbidden = (
        "eval(",
        "new Function",
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "sendBeacon",
        "http://",
        "https://",
    )
    for path in sorted(codegen.JS_DIR.glob("*.js")):
        if path.name == "portal.js":  # the page's own script, checked below
            continue
        text = path.read_text(encoding="utf-8")
        if path.name == "wasm-hashes.js":  # one GET of the module next to it, checked below
            text = text.replace(WASM_FETCH, "", 1)
        for word in forbidden:
            assert word not in text, f"{path.name} contains {word!r}"


WASM_FETCH = "fetch(MODULE_URL, { credentials: 'same-origin' })"


def test_the_one_fetch_in_the_engine_gets_its_own_module() -> None:
    """wasm-hashes.js fetches ./hashes.wasm from the URL of the script itself (same origin), with
    no body: the only request the engine makes, and it carries nothing of her files."""
    text = (codegen.JS_DIR / "wasm-hashes.js").read_text(encoding="utf-8")
    assert text.count("fetch(") == 1 and WASM_FETCH in text
    assert "const MODULE_URL = new URL('./hashes.wasm', import.meta.url);" in text
    assert text.count("MODULE_URL") == 2
    assert "WebAssembly.instantiate(bytes, {})" in text  # no imports handed to the module


def test_the_page_script_talks_only_to_its_own_origin() -> None:
    """portal.js may fetch (sealed evidence: ciphertext up, ciphertext down) but only same-origin
    paths, and evaluates no strings; quick exit's neutral URL comes from the page, not the script."""
    import re

    text = (codegen.JS_DIR / "portal.js").read_text(encoding="utf-8")
    for word in ("eval(", "new Function", "XMLHttpRequest", "WebSocket", "sendBeacon", "http://", "https://"):
        assert word not in text, word
    targets = re.findall(r"fetch\(\s*([^,)]+)", text)
    assert targets and all(t.strip()[0] in '"`' and t.strip()[1] == "/" for t in targets), targets
