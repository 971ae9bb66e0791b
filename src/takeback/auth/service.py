"""Create, list, look up and revoke API keys. Keyword-only functions taking a session; the caller commits.

Token format: ``tbk_<key_id>_<secret>``. ``key_id`` (12 lowercase base-32 characters) is public: it
names the key in listings and audit rows and finds the row in one indexed lookup. ``secret`` is 32
random bytes (base64url); only SHA-256(salt || secret) is stored, and comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.auth.errors import AuthError
from takeback.auth.models import ApiKey, ApiKeyInfo, Role
from takeback.banks.models import Bank
from takeback.banks.service import get_bank
from takeback.store import record_audit

TOKEN_PREFIX = "tbk_"  # noqa: S105 (a prefix, not a secret)
_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_KEY_ID_LEN = 12
_TOKEN_RE = re.compile(r"^tbk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``token`` is the only time the secret exists outside the caller's hands."""

    token: str
    info: ApiKeyInfo


def _hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


def parse_token(token: str) -> tuple[str, str]:
    """Split a presented token into ``(key_id, secret)``; a malformed token is ``invalid_key``."""
    m = _TOKEN_RE.match(token.strip()) if isinstance(token, str) else None
    if m is None:
        raise AuthError("The API key is malformed; keys look like tbk_<id>_<secret>.", code="invalid_key")
    return m.group(1), m.group(2)


def secret_matches(*, salt: str, secret_hash: str, secret: str) -> bool:
    """Constant-time check of a presented secret against a stored salt and hash."""
    return hmac.compare_digest(_hash_secret(salt, secret), secret_hash)


def verify_secret(key: ApiKey, secret: str) -> bool:
    """Constant-time check of a presented secret against the key's stored hash."""
    return secret_matches(salt=key.salt, secret_hash=key.secret_hash, secret=secret)


def _parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise AuthError(f"Unknown role {role!r}; roles are: {known}.", code="invalid_role") from None


def create_key(
    session: Session,
    *,
    role: Role | str,
    actor: str,
    name: str | None = None,
    bank_ids: list[int] | None = None,
    expires_at: datetime | None = None,
    rate_limit: float | None = None,
) -> CreatedKey:
    """Create a key and audit it. ``bank_ids`` limits the key to those banks (``None``: every bank)."""
    parsed = _parse_role(role)
    now = datetime.now(UTC)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise AuthError("The expiry is in the past; give a future date.", code="invalid_expiry")
    if rate_limit is not None and rate_limit < 0:
        raise AuthError(
            "The rate limit must be 0 (unlimited) or a positive number of requests per second.",
            code="invalid_rate_limit",
        )
    scoped = sorted(set(bank_ids)) if bank_ids is not None else None
    if parsed is Role.EXCHANGE and not scoped:
        raise AuthError(
            "An exchange key offers named banks only: give the banks its feed may read (--bank NAME).",
            code="invalid_scope",
        )
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LEN))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    salt = secrets.token_hex(16)
    key = ApiKey(
        key_id=key_id,
        name=name,
        role=parsed.value,
        bank_ids=scoped,
        rate_limit=rate_limit,
        salt=salt,
        secret_hash=_hash_secret(salt, secret),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="key.create",
        object_type="api_key",
        object_id=key_id,
        details={
            "role": parsed.value,
            "name": name,
            "bank_ids": scoped,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "rate_limit": rate_limit,
        },
    )
    return CreatedKey(token=f"{TOKEN_PREFIX}{key_id}_{secret}", info=ApiKeyInfo.of(key))


def get_key(session: Session, *, key_id: str) -> ApiKey | None:
    """The key row with this public id, or ``None``."""
    return session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def list_keys(session: Session, *, include_inactive: bool = False) -> list[ApiKeyInfo]:
    """Keys in creation order; revoked and expired keys only when asked for."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    infos = [ApiKeyInfo.of(k) for k in rows]
    return infos if include_inactive else [i for i in infos if i.status == "active"]


def revoke_key(session: Session, *, key_id: str, actor: str) -> ApiKeyInfo:
    """Revoke a key (idempotent: revoking twice keeps the first time) and audit it."""
    key = get_key(session, key_id=key_id.strip().removeprefix(TOKEN_PREFIX).split("_")[0])
    if key is None:
        raise AuthError(f"No API key with id {key_id!r}.", code="unknown_key")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        key.revoked_by = actor
        session.flush()
        record_audit(session, actor=actor, action="key.revoke", object_type="api_key", object_id=key.key_id)
    return ApiKeyInfo.of(key)


def resolve_banks(session: Session, *, names: list[str] | None, role: Role | str) -> list[int] | None:
    """Bank names -> ids for a key's scope (an unknown name raises the banks' ``unknown_bank``).

    Scopes are stored by id so renaming a bank keeps its keys; admin keys are never scoped.
    """
    if names is None:
        return None
    if _parse_role(role) is Role.ADMIN:
        raise AuthError(
            "Admin keys manage keys for every bank; they cannot be limited to banks.", code="invalid_scope"
        )
    return [get_bank(session, name=n).id for n in names]


def describe_key(session: Session, info: ApiKeyInfo) -> dict[str, Any]:
    """A key as a record with its banks named (a deleted bank shows as ``#<id> (deleted)``)."""
    rec = info.to_record()
    ids = rec.pop("bank_ids")
    if ids is None:
        rec["banks"] = None
        return rec
    rows = session.execute(select(Bank.id, Bank.name, Bank.deleted_at).where(Bank.id.in_(ids))).all()
    names = {i: name for i, name, deleted in rows if deleted is None}
    rec["banks"] = [names.get(i, f"#{i} (deleted)") for i in ids]
    return rec
