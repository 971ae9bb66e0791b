"""A local server for the portal's JS and a test page, and a headless Debian Chromium to drive it.

Shared by the browser tests and ``benchmarks/bench_portal.py``. The server sends the strict
Content-Security-Policy the portal does (script-src 'self' 'wasm-unsafe-eval', worker-src 'self',
nothing else), so a module that needs eval, inline script or another host fails here first;
``serve(csp=CSP_NO_WASM)`` leaves out 'wasm-unsafe-eval', as a stricter site would (the hashing falls
back to JavaScript).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "src" / "takeback" / "web" / "portal" / "static" / "js"
PAGE_DIR = Path(__file__).resolve().parent / "page"
CHROMIUM = os.environ.get("TAKEBACK_CHROMIUM", "/usr/bin/chromium")

CSP_NO_WASM = (
    "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; img-src 'self' blob:; "
    "media-src blob:; "
    "style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CSP = CSP_NO_WASM.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".wasm": "application/wasm",
}


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Path]] = {"/static/js/": JS_DIR, "/test/": PAGE_DIR}
    csp: ClassVar[str] = CSP

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        for prefix, base in self.routes.items():
            if path.startswith(prefix):
                target = (base / path[len(prefix) :]).resolve()
                if target.is_relative_to(base) and target.is_file() and target.suffix in _TYPES:
                    body = target.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", _TYPES[target.suffix])
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Content-Security-Policy", self.csp)
                    self.send_header("Referrer-Policy", "no-referrer")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(body)
                    return
        self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextlib.contextmanager
def serve(csp: str = CSP, routes: dict[str, Path] | None = None) -> Iterator[str]:
    """Serve the JS and the harness page on 127.0.0.1 (a free port) under ``csp``; yields the base URL.
    ``routes`` replaces some of the folders served (a benchmark serves an older copy of the JS)."""
    handler = type("Handler", (_Handler,), {"csp": csp, "routes": {**_Handler.routes, **(routes or {})}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def open_harness(b: Any, base: str) -> tuple[Any, list[str]]:
    """A fresh page on the harness, with every request URL recorded (the list returned)."""
    page = b.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{base}/test/index.html")
    page.wait_for_function("window.harness !== undefined")
    return page, requests
