"""Staff sessions on the web: the ``tb_staff`` cookie, CSRF tokens, roles, and access as FastAPI
dependencies, shared by the console (``/console``) and the review grid (``/review``).

- The cookie holds a random token (only its SHA-256 is stored: ``staff.service``), HttpOnly,
  SameSite=Strict, ``Secure`` unless the page was served over plain HTTP to a loopback address
  (a laptop running ``takeback serve`` for itself); sessions end after ``console_idle_minutes``
  without a request and ``console_session_hours`` after sign-in.
- Every state-changing request carries the session's CSRF token: a form field ``csrf`` or, for
  ``fetch()``, the ``X-CSRF-Token`` header; anything else is refused with 403 before it is read
  further. SameSite=Strict already keeps the cookie off other sites' requests; the token is the
  second wall, and it also refuses a form from a session that has since ended.
- A page that needs a session and has none answers 303 to the sign-in page; a wrong role or a case
  not assigned answers 403 (``StaffDenied``), rendered as a page by ``web.console``.
- A ``GET`` may reuse what this worker learnt of the same session (and of its access to a scan
  folder) in the last ``REUSE_SECONDS``: a grid page fetches 48 tiles, and each would otherwise pay
  a database round trip for the same answer. Any other method looks again and forgets everything
  reused (a post may be a sign-out, a deactivation or an assignment); a change made by the CLI
  reaches open pages within ``REUSE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
from fastapi import Request
from sqlalchemy.orm import Session

from takeback.clock import now_seconds
from takeback.config import installation_secret
from takeback.staff import service as staff_service
from takeback.staff.models import StaffRole
from takeback.web.deps import ServiceState
from takeback.web.forms import Form, read_form

COOKIE = "tb_staff"
MAX_FORM_BYTES = 1024 * 1024
MAX_JSON_BYTES = 256 * 1024
REUSE_SECONDS = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class Staff:
    """Who is signed in, for the length of one request."""

    id: int
    handle: str
    role: StaffRole
    csrf: str

    @property
    def actor(self) -> str:
        """How audit rows and custody entries name her: her handle, never a real name."""
        return f"staff:{self.handle}"


class LoginRequired(Exception):  # noqa: N818 (a control-flow signal, rendered as a redirect)
    """No live session: the answer is a redirect to the sign-in page, back to ``next`` after."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class StaffDenied(Exception):  # noqa: N818 (rendered as a 403/404 page)
    """The signed-in person may not do this (role, case not assigned, bad CSRF token), or the
    thing asked for does not exist. ``key`` is the i18n message the page shows."""

    def __init__(self, status: int, key: str) -> None:
        self.status, self.key = status, key


class Reuse:
    """What ``GET`` requests may reuse for ``REUSE_SECONDS`` (see the module's docstring), per app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[object, ...], tuple[float, object]] = {}

    def get(self, key: tuple[object, ...]) -> object | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or hit[0] <= now_seconds():
            return None
        return hit[1]

    def put(self, key: tuple[object, ...], value: object) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (now_seconds() + REUSE_SECONDS, value)

    def forget(self) -> None:
        with self._lock:
            self._items.clear()


def reuse_of(request: Request) -> Reuse | None:
    """This app's reuse store for a ``GET`` (None for any other method, which also empties it)."""
    app_state = request.app.state
    store: Reuse | None = getattr(app_state, "staff_reuse", None)
    if store is None:
        store = app_state.staff_reuse = Reuse()
    if request.method != "GET":
        store.forget()
        return None
    return store


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.takeback
    return state


def staff_key(request: Request) -> bytes:
    """The installation's ``staff-secret`` (TOTP seeds, form tokens), read once per worker."""
    app_state = request.app.state
    key: bytes | None = getattr(app_state, "staff_secret", None)
    if key is None:
        key = installation_secret(state_of(request).settings.ensure_data_dir(), staff_service.SECRET_NAME)
        app_state.staff_secret = key
    return key


def form_secret(request: Request) -> bytes:
    """A key for sign-in form tokens, derived so it is never the key that seals seeds."""
    return hmac.new(staff_key(request), b"staff forms", "sha256").digest()


async def in_db(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one committed unit of work, off the event loop."""
    return await anyio.to_thread.run_sync(lambda: state_of(request).db.run(work))


def secure_cookie(request: Request) -> bool:
    """Secure everywhere but plain HTTP on loopback (where browsers would drop a Secure cookie
    from some addresses, and nothing crosses a network)."""
    if request.url.scheme == "https":
        return True
    host = request.url.hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


async def _current(request: Request) -> Staff | None:
    cached: Staff | None = getattr(request.state, "staff", None)
    if cached is not None:
        return cached
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    reuse = reuse_of(request)
    key = ("session", hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest())
    if reuse is not None and isinstance(hit := reuse.get(key), Staff):
        request.state.staff = hit
        return hit
    idle = state_of(request).settings.console_idle_minutes

    def look(s: Session) -> Staff | None:
        found = staff_service.session_for(s, token=token, idle_minutes=idle)
        if found is None:
            return None
        user, row = found
        return Staff(id=user.id, handle=user.handle, role=StaffRole(user.role), csrf=row.csrf)

    who = await in_db(request, look)
    request.state.staff = who
    if who is not None and reuse is not None:
        reuse.put(key, who)
    return who


async def staff_page(request: Request) -> Staff:
    """Any signed-in staff member, or a redirect to sign in."""
    who = await _current(request)
    if who is None:
        raise LoginRequired(_next_path(request) if request.method == "GET" else request.url.path)
    return who


def staff_with(*roles: StaffRole) -> Callable[[Request], Coroutine[Any, Any, Staff]]:
    """A dependency: signed in and holding one of ``roles`` (else 403)."""

    async def dependency(request: Request) -> Staff:
        who = await staff_page(request)
        if who.role not in roles:
            raise StaffDenied(403, "console.error.role")
        return who

    return dependency


def _csrf_ok(who: Staff, typed: str | None) -> bool:
    return isinstance(typed, str) and 0 < len(typed) < 200 and hmac.compare_digest(typed, who.csrf)


async def staff_form(request: Request) -> tuple[Staff, Form]:
    """A posted form from a signed-in staff member with this session's CSRF token (else 403).
    Without a session a form is refused (403, never a redirect that would lose what was typed
    silently): the page says to sign in again."""
    who = await _current(request)
    if who is None:
        raise StaffDenied(403, "console.error.session")
    form = await read_form(request, max_bytes=MAX_FORM_BYTES)
    if not _csrf_ok(who, form.get("csrf") or request.headers.get("x-csrf-token")):
        raise StaffDenied(403, "console.error.csrf")
    return who, form


async def staff_json(request: Request) -> tuple[Staff, dict[str, Any]]:
    """A ``fetch()`` POST with a JSON object body and the ``X-CSRF-Token`` header (else 403)."""
    who = await _current(request)
    if who is None:
        raise StaffDenied(403, "console.error.session")
    if not _csrf_ok(who, request.headers.get("x-csrf-token")):
        raise StaffDenied(403, "console.error.csrf")
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise StaffDenied(413, "console.error.too_large")
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise StaffDenied(400, "console.error.bad_request") from None
    if not isinstance(data, dict):
        raise StaffDenied(400, "console.error.bad_request")
    return who, data


def login_url(next_path: str) -> str:
    return f"/console/login?next={quote(next_path, safe='')}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: only a path on this site's staff surfaces."""
    if (
        isinstance(value, str)
        and len(value) < 500
        and value.startswith(("/console", "/review"))
        and "//" not in value
        and "\\" not in value
        and not any(ord(c) < 32 for c in value)
    ):
        return value
    return "/console"


def staff_form_with(*roles: StaffRole) -> Callable[[Request], Coroutine[Any, Any, tuple[Staff, Form]]]:
    """A dependency: ``staff_form`` from someone holding one of ``roles`` (else 403)."""

    async def dependency(request: Request) -> tuple[Staff, Form]:
        who, form = await staff_form(request)
        if who.role not in roles:
            raise StaffDenied(403, "console.error.role")
        return who, form

    return dependency
