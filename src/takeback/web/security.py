"""Who is calling: API-key authentication, role checks, bank scope and rate limits.

Validated keys are cached in-process for ``api_key_cache_seconds`` (default 2 s), so a lookup costs
no database round trip for auth; a revocation or expiry therefore takes effect within that time in
every worker (immediately in the worker that revoked it over HTTP). Expiry is checked against the
cached expiry time on every request. Malformed tokens are refused without touching the database;
unknown key ids are remembered (bounded) so a flood of made-up keys costs one query per id.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy.orm import Session

from takeback.auth import AuthError, Permission, Role, get_key, parse_token, secret_matches
from takeback.auth.models import ApiKey
from takeback.banks.models import Bank
from takeback.banks.service import get_bank
from takeback.store import Database
from takeback.web.errors import ApiError
from takeback.web.ratelimit import RateLimiter, retry_after_header

_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``actor`` is what audit rows record: the key id, never the key."""

    key_id: str
    role: Role
    permissions: frozenset[Permission]
    #: banks this key may touch; ``None`` means all
    bank_ids: frozenset[int] | None
    #: requests per second; 0 means unlimited
    rate_limit: float

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def may_use_bank(self, bank_id: int) -> bool:
        return self.bank_ids is None or bank_id in self.bank_ids

    @property
    def nameable_banks(self) -> frozenset[int] | None:
        """Banks whose names an error may show this key (``None``: all): a scoped key its own banks;
        an unscoped key the banks it may list (``GET /c/banks``: curators and admins), else none."""
        if self.bank_ids is not None:
            return self.bank_ids
        return None if Permission.READ_BANKS in self.permissions else frozenset()

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise AuthError(
                f"This key's role ({self.role.value}) may not {_VERBS[permission]}.", code="forbidden"
            )


def api_token(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key a request sends: ``Authorization: Bearer <key>``, else ``X-API-Key: <key>``.
    The one reading of the two headers (``deps.requires`` and the fast path both call it)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    return x_api_key


def bank_for(session: Session, principal: Principal, name: str) -> Bank:
    """The bank called ``name`` as ``principal`` sees it: one outside its scope reads exactly as a
    bank that does not exist (404 ``unknown_bank``), and the error names only banks it may see."""
    return get_bank(session, name=name, scope=principal.bank_ids, named=principal.nameable_banks)


_VERBS = {
    Permission.LOOKUP: "look content up",
    Permission.SUBMIT: "add content to banks",
    Permission.READ_BANKS: "read banks",
    Permission.MANAGE_BANKS: "manage banks",
    Permission.MANAGE_KEYS: "manage API keys",
    Permission.READ_FEED: "read bank feeds",
    Permission.FEEDBACK: "give feedback on bank entries",
    Permission.RELAY_FEEDBACK: "relay a mirror's feedback",
}


@dataclass(frozen=True, slots=True)
class _Entry:
    """A key as of ``loaded_at``; ``key`` is ``None`` for an id that does not exist."""

    loaded_at: float
    salt: str | None
    secret_hash: str | None
    principal: Principal | None
    expires_at: datetime | None
    revoked: bool


class KeyCache:
    """Validated-key cache for one worker process."""

    def __init__(self, db: Database, *, ttl_s: float, default_rate: float) -> None:
        self._db = db
        self._ttl = ttl_s
        self._default_rate = default_rate
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._loading: dict[str, asyncio.Future[_Entry]] = {}
        self.limiter = RateLimiter()

    def invalidate(self, key_id: str) -> None:
        self._entries.pop(key_id, None)

    def _entry_of(self, key: ApiKey | None) -> _Entry:
        now = time.monotonic()
        if key is None:
            return _Entry(now, None, None, None, None, False)
        rate = self._default_rate if key.rate_limit is None else key.rate_limit
        principal = Principal(
            key_id=key.key_id,
            role=key.role_enum,
            permissions=key.permissions,
            bank_ids=frozenset(key.bank_ids) if key.bank_ids is not None else None,
            rate_limit=float(rate),
        )
        expires = key.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return _Entry(now, key.salt, key.secret_hash, principal, expires, key.revoked_at is not None)

    def _load(self, key_id: str) -> _Entry:
        with self._db.sessionmaker() as s:
            return self._entry_of(get_key(s, key_id=key_id))

    async def _get(self, key_id: str) -> _Entry:
        entry = self._entries.get(key_id)
        if entry is not None and time.monotonic() - entry.loaded_at < self._ttl:
            return entry
        pending = self._loading.get(key_id)
        if pending is not None:  # another request is already loading this key: share its answer
            return await asyncio.shield(pending)
        fut: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._loading[key_id] = fut
        try:
            entry = await anyio.to_thread.run_sync(self._load, key_id)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it
            raise
        finally:
            self._loading.pop(key_id, None)
        fut.set_result(entry)
        self._entries[key_id] = entry
        self._entries.move_to_end(key_id)
        while len(self._entries) > _MAX_CACHED:
            self._entries.popitem(last=False)
        return entry

    async def authenticate(self, token: str | None, *, cost: float = 1.0) -> Principal:
        """The caller behind ``token``, after expiry, revocation and rate-limit checks."""
        if not token:
            raise AuthError(
                "An API key is required: send 'Authorization: Bearer <key>' (or 'X-API-Key: <key>').",
                code="missing_key",
            )
        key_id, secret = parse_token(token)
        entry = await self._get(key_id)
        if entry.principal is None or entry.salt is None or entry.secret_hash is None:
            raise AuthError("This API key is not valid.", code="invalid_key")
        if not secret_matches(salt=entry.salt, secret_hash=entry.secret_hash, secret=secret):
            raise AuthError("This API key is not valid.", code="invalid_key")
        if entry.revoked:
            raise AuthError("This API key has been revoked.", code="key_revoked")
        if entry.expires_at is not None and entry.expires_at <= datetime.now(UTC):
            raise AuthError(
                "This API key has expired; ask an administrator for a new one.", code="key_expired"
            )
        wait = self.limiter.take(key_id, entry.principal.rate_limit, cost)
        if wait is not None:
            raise ApiError(
                f"Rate limit of {entry.principal.rate_limit:g} requests/s for this key exceeded; "
                f"retry in {wait:.2f} s.",
                code="rate_limited",
                status=429,
                headers={"Retry-After": retry_after_header(wait)},
            )
        return entry.principal
