"""Bank tables and the records the CLI and the web layer show.

A *bank* is a named list of entries (``bank_content``); each entry holds the fingerprints of one
piece of content (``content_signal``: PDQ, MD5, SHA-256; vPDQ for videos), never the content itself.
``bank_change`` is the append-only log the in-memory indexes follow (see :mod:`takeback.banks.service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

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
)
from sqlalchemy.orm import Mapped, mapped_column

from takeback.clock import as_utc
from takeback.signals import REGISTRY
from takeback.store import Base

#: SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: PDQ distance at or below which a bank's entries match, unless the bank says otherwise.
DEFAULT_PDQ_THRESHOLD = 31
#: The largest threshold a bank may set. Near 64 of 256 bits unrelated images start to match.
MAX_PDQ_THRESHOLD = 64
#: A PDQ distance cap (``Bank.pdq_cap``) is 0-256: any distance between two 256-bit hashes.
MAX_PDQ_CAP = 256


def is_active(enabled: bool, disabled_until: datetime | None, now: datetime) -> bool:
    """Enabled, or disabled with an expiry that has passed (expired disables lapse on their own)."""
    if enabled:
        return True
    until = as_utc(disabled_until)
    return until is not None and until <= now


#: Why an entry is held out of matching: ``pending_review`` (arrived from an exchange that reviews
#: new entries first) or ``disputed`` (match feedback says it is wrong). Add a reason here and the
#: services, CLI and routes take it.
HoldReason = Literal["pending_review", "disputed"]
HOLD_REASONS: tuple[str, ...] = get_args(HoldReason)


def is_held(reason: str | None, held_until: datetime | None, now: datetime) -> bool:
    """Held: a hold reason whose expiry (if any) has not passed. A hold with an expiry lapses on its
    own, as ``disabled_until`` does: nothing has to run when it ends."""
    if reason is None:
        return False
    until = as_utc(held_until)
    return until is None or until > now


def entry_active(
    enabled: bool,
    disabled_until: datetime | None,
    hold_reason: str | None,
    held_until: datetime | None,
    now: datetime,
) -> bool:
    """Whether an entry matches: active (:func:`is_active`) and not held (:func:`is_held`)."""
    return is_active(enabled, disabled_until, now) and not is_held(hold_reason, held_until, now)


class Bank(Base):
    __tablename__ = "bank"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    #: lower-cased name: names are unique (among live banks) and looked up case-insensitively
    name_key: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=DEFAULT_PDQ_THRESHOLD)
    is_allow_list: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: HMA's ``enabled_ratio`` while enabled: the share of HMA lookups (``/m/lookup``) the bank
    #: matches, by a coin flip per lookup; ``/v1``, the CLI and everything else read only ``enabled``
    matching_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    #: a ceiling on the PDQ distance the bank's entries match at, whatever ``pdq_threshold`` says
    #: (migration ``0105_bank_pdq_cap``): set by an exchange on its mirror bank (``--max-pdq-distance``)
    pdq_cap: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def active(self, now: datetime) -> bool:
        return self.deleted_at is None and is_active(self.enabled, self.disabled_until, now)

    @property
    def effective_threshold(self) -> int:
        """The PDQ distance the bank's entries match at: its threshold, under its cap if it has one."""
        return self.pdq_threshold if self.pdq_cap is None else min(self.pdq_threshold, self.pdq_cap)


class BankContent(Base):
    __tablename__ = "bank_content"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id"))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    #: where the entry came from (free text: "victim submission", "import:exchange-2026-11.jsonl")
    source: Mapped[str | None] = mapped_column(String(500), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    #: a hold (migration ``0104_entry_hold``): the entry matches nowhere while ``hold_reason`` is set
    #: and ``held_until`` (if any) has not passed; see :data:`HoldReason`
    hold_reason: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)
    held_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)
    held_by: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    #: a curator rejected the entry on review: it stays disabled, even when a mirror's publisher
    #: later sends it enabled (only an explicit enable clears this)
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)


class ContentSignal(Base):
    __tablename__ = "content_signal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    content_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_content.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BankChange(Base):
    """One row per change an index must follow; ``seq`` is the watermark an index records."""

    __tablename__ = "bank_change"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (SQLAlchemy's declarative API)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``signal_add`` / ``signal_remove`` (a PDQ signal entered or left the live set) or ``bank``
    #: (a bank's policy changed: threshold, allow-list, enabled, name, deletion)
    op: Mapped[str] = mapped_column(String(16))
    bank_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_signal_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BankFeedChange(Base):
    """One row per change to an entry, in commit order: what a published feed pages through
    (:mod:`takeback.exchanges.feed`). ``key`` is the entry's fingerprint (``type:hex`` of its first
    signal), the same on every instance, so a removal here reaches every mirror."""

    __tablename__ = "bank_feed_change"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (SQLAlchemy's declarative API)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(Integer)
    #: ``add``, ``update`` (note), ``disable``, ``enable`` or ``remove``
    op: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    content_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignalTypeSetting(Base):
    """HMA's per-signal-type ``enabled_ratio`` override (HMA keeps a type enabled while it is >= 0,
    and takes only 0-1, so the value is recorded and shown; nothing reads it to match)."""

    __tablename__ = "signal_type_setting"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled_ratio: Mapped[float] = mapped_column(Float)


class BankStore(Base):
    """The store's identity (one row): persisted index files are named after it."""

    __tablename__ = "bank_store"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32))


# --- records shown at the edges (CLI, API) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankInfo:
    """A bank with its entry counts, as ``bank list`` / ``bank show`` print it."""

    id: int
    name: str
    description: str | None
    pdq_threshold: int
    is_allow_list: bool
    enabled: bool
    disabled_until: datetime | None
    active: bool
    created_at: datetime
    created_by: str
    entries: int
    disabled_entries: int
    signals: dict[str, int]
    #: HMA's ``enabled_ratio`` while active (see ``Bank.matching_ratio``)
    matching_ratio: float = 1.0
    #: entries held out of matching now (pending review, disputed); counted apart from disabled
    held_entries: int = 0
    #: see ``Bank.pdq_cap``
    pdq_cap: int | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "pdq_threshold": self.pdq_threshold,
            "pdq_cap": self.pdq_cap,
            "allow_list": self.is_allow_list,
            "enabled": self.enabled,
            "disabled_until": iso(self.disabled_until),
            "active": self.active,
            "entries": self.entries,
            "disabled_entries": self.disabled_entries,
            "held_entries": self.held_entries,
            "signals": self.signals,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


def export_fields() -> tuple[str, ...]:
    """The exported fields, in order: each registered signal type's value (and ``<type>_quality``
    where the type has one) between ``content_id`` and the entry's own fields. ``bank export``
    writes them and ``bank import`` reads them back."""
    signals: list[str] = []
    for t in REGISTRY.values():
        signals.append(t.name)
        if t.has_quality:
            signals.append(f"{t.name}_quality")
    return ("content_id", *signals, *_ENTRY_FIELDS)


_ENTRY_FIELDS = ("note", "metadata", "source", "enabled", "disabled_until", "created_at", "created_by")
#: the exported fields with the built-in signal types (:func:`export_fields` follows the registry)
EXPORT_FIELDS: tuple[str, ...] = export_fields()


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds, so an export round-trips timestamps exactly."""
    aware = as_utc(value)
    return None if aware is None else aware.isoformat(timespec="microseconds")
