"""The ``api_key`` table, roles and what each role may do.

Roles are fixed sets of permissions rather than a hierarchy written out in every route, so a route
asks for one permission and the table below is the single place that says who holds it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from takeback.store.db import Base


class Role(StrEnum):
    MATCHER = "matcher"  # look content and hashes up; nothing else
    SUBMITTER = "submitter"  # add content to its banks; nothing else
    CURATOR = "curator"  # manage banks and their content (and look up, to check its work)
    EXCHANGE = "exchange"  # pull the signed feed of its banks, send its platforms' feedback back
    ADMIN = "admin"  # everything, including keys


class Permission(StrEnum):
    LOOKUP = "lookup"  # /m/*, /h/*, /v1/match*
    SUBMIT = "submit"  # add content or signals to a bank
    READ_BANKS = "read_banks"  # list banks, read bank content
    MANAGE_BANKS = "manage_banks"  # create/update/delete banks, update/delete content
    MANAGE_KEYS = "manage_keys"  # /v1/keys
    READ_FEED = "read_feed"  # /v1/feed/*: the signed change feed of a bank
    FEEDBACK = "feedback"  # POST /v1/feedback: an opinion of an entry of a bank it matches against
    RELAY_FEEDBACK = "relay_feedback"  # POST /v1/feed/{bank}/feedback: a mirror's platforms' opinions


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.MATCHER: frozenset({Permission.LOOKUP, Permission.FEEDBACK}),
    Role.SUBMITTER: frozenset({Permission.SUBMIT}),
    Role.CURATOR: frozenset(
        {
            Permission.LOOKUP,
            Permission.SUBMIT,
            Permission.READ_BANKS,
            Permission.MANAGE_BANKS,
            Permission.FEEDBACK,
        }
    ),
    Role.EXCHANGE: frozenset({Permission.READ_FEED, Permission.RELAY_FEEDBACK}),
    Role.ADMIN: frozenset(Permission),
}


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every datetime we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class ApiKey(Base):
    """One API key. ``secret_hash`` = SHA-256(salt || secret); the secret itself is never stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: public identifier, part of the token and of every audit row written for this key
    key_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str] = mapped_column(String(20))
    #: ids of the banks this key is limited to (ids, so a renamed bank stays in scope); ``None``: all
    bank_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    #: requests per second (token bucket refill); ``None`` = the service default, 0 = unlimited
    rate_limit: Mapped[float | None] = mapped_column(Float, nullable=True)
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[Role(self.role)]

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        expires = _as_utc(self.expires_at)
        if expires is not None and expires <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


class ApiKeyInfo(BaseModel):
    """What may be shown about a key after creation: everything but the secret."""

    key_id: str
    name: str | None
    role: Role
    bank_ids: list[int] | None
    rate_limit: float | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        return cls(
            key_id=key.key_id,
            name=key.name,
            role=Role(key.role),
            bank_ids=list(key.bank_ids) if key.bank_ids is not None else None,
            rate_limit=key.rate_limit,
            created_at=_as_utc(key.created_at) or key.created_at,
            created_by=key.created_by,
            expires_at=_as_utc(key.expires_at),
            revoked_at=_as_utc(key.revoked_at),
            status=key.status(),
        )

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
