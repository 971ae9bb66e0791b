"""Exchange tables: an exchange's configuration and each exchange API's credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from takeback.store import Base


class Exchange(Base):
    """One configured exchange; what it fetches lands in its bank (same name, as in HMA)."""

    __tablename__ = "exchange"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    api: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the API's own settings (HMA's ``api_json`` less name, api and enabled)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class ExchangeApiCredentials(Base):
    """The credentials an exchange API signs in with (never shown back, never logged)."""

    __tablename__ = "exchange_api_credentials"

    api: Mapped[str] = mapped_column(String(100), primary_key=True)
    credentials: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class ExchangeFeed(Base):
    """A mirror's pull state for a ``takeback_feed`` exchange: the pinned publisher key, the
    checkpoint reached, the fetcher's lock and how the last pull went. The API key it presents is
    kept here and never shown back."""

    __tablename__ = "exchange_feed"

    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(200))
    #: base64 of the publisher's Ed25519 public key
    publisher_key: Mapped[str] = mapped_column(String(100))
    #: the publisher's store id and bank id, pinned on the first page (a different feed is refused)
    store_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_bank_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checkpoint: Mapped[int] = mapped_column(BigInteger, default=0)
    lock_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lock_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_pull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    applied: Mapped[int] = mapped_column(BigInteger, default=0)
    #: review before matching (migration ``0602_exchange_review``): ``pending`` holds every new
    #: entry a page brings (``pending_review``) until a curator accepts it, or for ``review_hours``;
    #: ``None`` / ``none``: new entries match at once
    review: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    review_hours: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)


class ExchangeEntry(Base):
    """Which local entry of the mirror bank holds the publisher's entry with this fingerprint key."""

    __tablename__ = "exchange_entry"

    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_id: Mapped[int] = mapped_column(BigInteger)


class ExchangeQuarantine(Base):
    """A page that was not applied, kept whole with the reason, for an administrator to look at."""

    __tablename__ = "exchange_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"))
    after: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackOutbox(Base):
    """An opinion given here on a mirrored entry, waiting to reach (or having reached) the entry's
    source: one row per (exchange, publisher key, giver), holding the giver's latest opinion."""

    __tablename__ = "feedback_outbox"
    __table_args__ = (UniqueConstraint("exchange_id", "key", "giver", name="uq_feedback_outbox_giver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"), index=True)
    #: the publisher's fingerprint key of the entry (what its feed calls it)
    key: Mapped[str] = mapped_column(String(200))
    giver: Mapped[str] = mapped_column(String(200))
    opinion: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``pending`` (to send), ``sent`` (the source has it), ``refused`` (the source said no for good)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
