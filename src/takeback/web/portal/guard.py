"""What protects the portal's pages: headers, one-time form tokens, the sign-in cookie, client keys.

- Headers: a strict Content-Security-Policy (only this origin's scripts, styles, workers and
  fetches; no inline script, no frames; WebAssembly compilation for the portal's own hashing
  module, not on the staff pages), ``Referrer-Policy: no-referrer`` (a link she follows must
  not tell the next site she came from here), no caching of pages that can hold a case number.
- Form tokens: ``nonce.issued.mac`` with an HMAC over what the form is bound to (the signed-in case,
  or nothing); each is used once (``portal.service.use_form_token``), so a form sent twice or a
  forged or expired token is refused. No cookie is needed for them.
- The sign-in cookie: ``case id . expiry . mac``, HttpOnly, SameSite=Strict, 15 minutes, only on
  ``/case``: the one cookie the portal ever sets.
- Client keys: throttles count by an HMAC of the client's address, never the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from takeback.config import installation_secret

SECRET_FILE = "portal-secret"  # noqa: S105 (a file name, not a secret)
COOKIE = "tb_case"
COOKIE_PATH = "/case"
SESSION_SECONDS = 15 * 60
TOKEN_SECONDS = 2 * 3600

# 'wasm-unsafe-eval' lets the hashing worker compile static/js/hashes.wasm (SHA-256's and MD5's rounds,
# the bound on a large video's streamed hashes; see benchmarks/RESULTS.md). It is safe to give: it permits
# WebAssembly compilation only, while eval(), new Function() and string timers stay blocked
# ('unsafe-eval' is not given); only this origin's script files run (no inline script), so only our
# code chooses what is compiled, and it compiles ./hashes.wasm fetched from this origin; and a
# WebAssembly module reaches nothing but its own memory and what it is handed to import (ours imports
# nothing: no DOM, no network). Without it the worker falls back to the JavaScript rounds, so a
# stricter deployment may remove it.
CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src blob:; connect-src 'self'; font-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; manifest-src 'self'"
)
#: the staff pages run no WebAssembly: their policy leaves it out
STAFF_CSP = CSP.replace(" 'wasm-unsafe-eval'", "")
STAFF_PREFIXES = ("/console", "/review", "/staff-assets")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
STAFF_HEADERS = [(b"content-security-policy", STAFF_CSP.encode()), *HEADERS[1:]]
#: prefixes of the service's API; everything else the app serves is a portal page or asset
API_PREFIXES = ("/h/", "/m/", "/c/", "/v1/", "/status", "/docs", "/openapi", "/site-map")


def load_secret(data_dir: Path) -> bytes:
    """The installation's portal secret (``config.installation_secret``)."""
    return installation_secret(data_dir, SECRET_FILE)


def _mac(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def form_token(secret: bytes, bound: str = "", *, now: float | None = None) -> str:
    nonce = secrets.token_hex(12)
    issued = str(int(now if now is not None else time.time()))
    return f"{nonce}.{issued}.{_mac(secret, 'form', nonce, issued, bound)}"


def check_form_token(secret: bytes, token: str, bound: str = "", *, now: float | None = None) -> str | None:
    """The token's nonce if it is genuine, bound to ``bound`` and not expired; else None."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 200 else []
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    nonce, issued, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, "form", nonce, issued, bound)):
        return None
    age = (now if now is not None else time.time()) - int(issued)
    return nonce if -60 <= age <= TOKEN_SECONDS else None


def session_value(secret: bytes, case_id: int, *, now: float | None = None) -> str:
    expires = str(int((now if now is not None else time.time()) + SESSION_SECONDS))
    return f"{case_id}.{expires}.{_mac(secret, 'session', str(case_id), expires)}"


def session_case(secret: bytes, value: str | None, *, now: float | None = None) -> int | None:
    parts = value.split(".") if value and len(value) < 200 else []
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    cid, expires, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, "session", cid, expires)):
        return None
    return int(cid) if int(expires) > (now if now is not None else time.time()) else None


def client_key(secret: bytes, address: str | None) -> str:
    return _mac(secret, "client", address or "-")[:24]


class PortalHeaders:
    """ASGI middleware: the headers above on every portal page and asset (not on the API, whose
    fast path answers before routing, and not on ``/docs``, which Swagger UI runs inline)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        is_asset = scope["path"].startswith(("/assets/", "/staff-assets/"))
        ours = STAFF_HEADERS if scope["path"].startswith(STAFF_PREFIXES) else HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in ours if h[0] not in present)
                if not is_asset and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
