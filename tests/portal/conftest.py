"""Browser fixtures: one local server and one headless Chromium per module; skipped without Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.portal import harness


@pytest.fixture(scope="module")
def portal_base() -> Iterator[str]:
    with harness.serve() as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not harness.chromium_available():
        pytest.skip(f"Chromium not found at {harness.CHROMIUM} (apt-get install chromium)")
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    with harness.browser() as b:
        yield b


@pytest.fixture
def harness_page(chromium: Any, portal_base: str) -> Iterator[tuple[Any, list[str]]]:
    page, requests = harness.open_harness(chromium, portal_base)
    yield page, requests
    violations = page.evaluate("window.harness.violations")
    page.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"
    # blob: URLs of this origin are her own files read in the browser (a video's object URL)
    local = (portal_base + "/", f"blob:{portal_base}/")
    assert all(u.startswith(local) for u in requests), f"a request left the test server: {requests}"
