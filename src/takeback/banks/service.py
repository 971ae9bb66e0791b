"""Bank curation: create/rename/delete banks, add/remove/disable entries, export and import.

Keyword-only functions taking the caller's ``session``; the caller owns the transaction (an import
is one transaction, so it lands whole or not at all). Every change writes an audit event.

Changes that in-memory indexes must follow (a PDQ signal entering or leaving the live set, a bank's
policy changing) also append to ``bank_change``. Writers take a change-log lock first (PostgreSQL
advisory lock; SQLite already has a single writer), so sequence numbers commit in order and a reader
that has seen ``seq = N`` has seen every change up to ``N``: an index saved with watermark ``N``
catches up by applying ``seq > N`` only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    DateTime,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from takeback.banks.models import (
    DEFAULT_PDQ_THRESHOLD,
    HOLD_REASONS,
    MAX_PDQ_CAP,
    MAX_PDQ_THRESHOLD,
    Bank,
    BankChange,
    BankContent,
    BankFeedChange,
    BankInfo,
    BankStore,
    ContentSignal,
    HoldReason,
    SignalTypeSetting,
    entry_active,
    is_active,
    is_held,
    iso,
)
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.signals import REGISTRY, IndexKind, SignalValue
from takeback.store import record_audit
from takeback.store.bulk import bulk_insert, next_ids

if TYPE_CHECKING:
    from takeback.signals.fingerprint import Fingerprint

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def indexed_types() -> frozenset[str]:
    """Signal types whose changes go to the change log (those kept in in-memory indexes)."""
    return frozenset(t.name for t in REGISTRY.values() if t.index_kind is not IndexKind.EXACT)


def signal_order() -> tuple[str, ...]:
    """Signal types an entry may carry, in export-column order (the registry's)."""
    return tuple(REGISTRY)


MAX_NOTE_CHARS = 10_000
MAX_METADATA_BYTES = 16_384
_CHUNK = 500  # values per IN (...) list: well inside SQLite's and PostgreSQL's parameter limits
_INSERT_CHUNK = 2_000  # entries per bulk-insert round (its duplicate check: 2,000 values per IN)
_ANALYZE_FIRST = 2_000  # entries inserted before the first statistics refresh (then 4k, 8k, ...)
_CHANGE_LOCK_KEY = 0x7A4B_0100  # PostgreSQL advisory lock serialising change-log writers
_MAX_ID = 2**63 - 1  # the largest id a 64-bit INTEGER column holds


_CONTENT = cast(Table, BankContent.__table__)
_SIGNAL = cast(Table, ContentSignal.__table__)
_CHANGE = cast(Table, BankChange.__table__)
_FEED = cast(Table, BankFeedChange.__table__)
#: the metadata of an entry without any, shared so a bulk insert serialises it once
_NO_METADATA: dict[str, Any] = {}


def entry_key(signals: Iterable[SignalValue] | dict[str, bytes]) -> str:
    """An entry's fingerprint key, the same on every instance: ``type:hex`` of its first signal in
    registry order (a long value, such as a video's vPDQ, by its SHA-256: ``type#sha256:hex``).
    Duplicates never share a bank, so within a bank the key names one entry."""
    import hashlib

    values = signals if isinstance(signals, dict) else {s.signal_type: s.value for s in signals}
    for name in REGISTRY:
        value = values.get(name)
        if value is not None:
            if len(value) <= 64:
                return f"{name}:{value.hex()}"
            return f"{name}#sha256:{hashlib.sha256(value).hexdigest()}"
    raise BankError("An entry needs at least one signal.", code="no_signals")  # pragma: no cover


def _log_feed(session: Session, bank_id: int, op: str, keyed: Iterable[tuple[int, str]]) -> None:
    now = utcnow()
    rows = [{"bank_id": bank_id, "op": op, "key": k, "content_id": cid, "at": now} for cid, k in keyed]
    bulk_insert(session.connection(), _FEED, rows)


def _keys_of(session: Session, content_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(content id, entry key) of entries, in id order."""
    values: dict[int, dict[str, bytes]] = {i: {} for i in content_ids}
    for i in range(0, len(content_ids), _CHUNK):
        for cid, stype, value in session.execute(
            select(ContentSignal.content_id, ContentSignal.signal_type, ContentSignal.value).where(
                ContentSignal.content_id.in_(content_ids[i : i + _CHUNK])
            )
        ):
            values[int(cid)][stype] = bytes(value)
    return [(cid, entry_key(v)) for cid, v in sorted(values.items()) if v]


class BankError(TakebackError):
    code = "bank_error"


class ImportFileError(BankError):
    """An import file has bad rows; ``problems`` lists every one (line number, message)."""

    def __init__(self, problems: list[tuple[int, str]], *, source: str, total: int | None = None) -> None:
        n = len(problems) if total is None else total
        shown = "" if n == len(problems) else f" (the first {len(problems):,} are listed)"
        super().__init__(
            f"{source}: {n:,} invalid row{'s' if n != 1 else ''}{shown}; nothing was imported.",
            code="import_invalid",
        )
        self.problems = problems
        #: how many rows were bad (``problems`` may hold only the first of them, for huge files)
        self.total = n


# --- banks ----------------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    text_ = name.strip() if isinstance(name, str) else ""
    if not _NAME.match(text_):
        raise BankError(
            f"Bank name {name!r} is not valid: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            code="invalid_bank_name",
        )
    return text_


def _check_threshold(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PDQ_THRESHOLD:
        raise BankError(
            f"PDQ threshold {value!r} is out of range: use 0-{MAX_PDQ_THRESHOLD} bits "
            f"(default {DEFAULT_PDQ_THRESHOLD}).",
            code="invalid_threshold",
        )
    return value


def _lock_change_log(session: Session) -> None:
    """Serialise writers so change-log sequence numbers commit in order (see module docstring).

    Taken first in every writing function, before any row lock, so it cannot deadlock with them.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHANGE_LOCK_KEY})


def _log_bank_change(session: Session, bank_id: int) -> None:
    session.execute(insert(BankChange).values(op="bank", bank_id=bank_id, at=utcnow()))


class UnknownBankError(BankError):
    """No live bank has this name, or none the caller may use: the two read the same, so an error
    never tells a caller that a bank it may not use exists."""

    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(f"No bank called {name!r}.{hint}", code="unknown_bank")
        self.name = name


def get_bank(
    session: Session,
    *,
    name: str,
    scope: Collection[int] | None = None,
    named: Collection[int] | None = None,
) -> Bank:
    """The live bank called ``name`` (case-insensitive).

    ``scope``: ids of the banks the caller may use (``None``: all); any other bank reads as unknown.
    ``named``: ids of the banks an unknown-bank error may list to help (``None``: every bank, for
    the operator at the CLI; empty: none). Bank names can identify a victim or a case, so a caller
    is only ever told the names it may see (docs/API.md, "Bank scope").
    """
    key = name.strip().lower() if isinstance(name, str) else ""
    bank = session.scalar(select(Bank).where(Bank.name_key == key, Bank.deleted_at.is_(None)))
    if bank is None or (scope is not None and bank.id not in scope):
        raise UnknownBankError(name, _bank_hint(session, named))
    return bank


def _bank_hint(session: Session, named: Collection[int] | None) -> str:
    """``" Banks: a, b."`` listing at most 20 of the banks in ``named`` (all when ``None``)."""
    if named is not None and not named:
        return ""
    query = select(Bank.name).where(Bank.deleted_at.is_(None))
    if named is not None:
        query = query.where(Bank.id.in_(sorted(named)[:_CHUNK]))
    known = session.scalars(query.order_by(Bank.name_key).limit(20)).all()
    if known:
        return f" Banks: {', '.join(known)}."
    return " There are no banks yet: create one first." if named is None else ""


def create_bank(
    session: Session,
    *,
    name: str,
    actor: str,
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD,
    allow_list: bool = False,
    description: str | None = None,
) -> Bank:
    """A new, enabled bank. Allow-list banks hold known-benign content whose matches suppress others."""
    clean = _check_name(name)
    _check_threshold(pdq_threshold)
    _lock_change_log(session)
    if session.scalar(select(Bank.id).where(Bank.name_key == clean.lower(), Bank.deleted_at.is_(None))):
        raise BankError(f"A bank called {clean!r} already exists.", code="bank_exists")
    bank = Bank(
        name=clean,
        name_key=clean.lower(),
        description=description or None,
        pdq_threshold=pdq_threshold,
        is_allow_list=allow_list,
        enabled=True,
        disabled_until=None,
        matching_ratio=1.0,
        created_at=utcnow(),
        created_by=actor,
        deleted_at=None,
    )
    session.add(bank)
    session.flush()
    _log_bank_change(session, bank.id)
    record_audit(
        session,
        actor=actor,
        action="bank.create",
        object_type="bank",
        object_id=bank.id,
        details={"name": clean, "pdq_threshold": pdq_threshold, "allow_list": allow_list},
    )
    return bank


def update_bank(
    session: Session,
    *,
    name: str,
    actor: str,
    new_name: str | None = None,
    pdq_threshold: int | None = None,
    allow_list: bool | None = None,
    description: str | None = None,
) -> Bank:
    """Rename a bank or change its policy; unchanged fields stay as they are."""
    _lock_change_log(session)
    bank = get_bank(session, name=name)
    changes: dict[str, Any] = {}
    if new_name is not None:
        clean = _check_name(new_name)
        if clean.lower() != bank.name_key and session.scalar(
            select(Bank.id).where(Bank.name_key == clean.lower(), Bank.deleted_at.is_(None))
        ):
            raise BankError(f"A bank called {clean!r} already exists.", code="bank_exists")
        if clean != bank.name:
            changes["name"] = [bank.name, clean]
            bank.name, bank.name_key = clean, clean.lower()
    if pdq_threshold is not None and _check_threshold(pdq_threshold) != bank.pdq_threshold:
        changes["pdq_threshold"] = [bank.pdq_threshold, pdq_threshold]
        bank.pdq_threshold = pdq_threshold
    if allow_list is not None and allow_list != bank.is_allow_list:
        changes["allow_list"] = [bank.is_allow_list, allow_list]
        bank.is_allow_list = allow_list
    if description is not None and (description or None) != bank.description:
        changes["description"] = "changed"
        bank.description = description or None
    if changes:
        _log_bank_change(session, bank.id)
        record_audit(
            session, actor=actor, action="bank.update", object_type="bank", object_id=bank.id, details=changes
        )
    return bank


def delete_bank(session: Session, *, name: str, actor: str) -> Bank:
    """Soft-delete: the bank and its entries stop matching; rows stay for the record."""
    _lock_change_log(session)
    bank = get_bank(session, name=name)
    bank.deleted_at = utcnow()
    session.flush()
    now = utcnow()
    # Its PDQ signals leave the live set: every index drops them on its next catch-up.
    session.execute(
        insert(BankChange).from_select(
            ["op", "bank_id", "content_signal_id", "at"],
            select(
                literal("signal_remove", String(16)),
                BankContent.bank_id,
                ContentSignal.id,
                literal(now, DateTime(timezone=True)),
            )
            .join(BankContent, BankContent.id == ContentSignal.content_id)
            .where(BankContent.bank_id == bank.id, ContentSignal.signal_type.in_(indexed_types())),
        )
    )
    _log_bank_change(session, bank.id)
    record_audit(
        session,
        actor=actor,
        action="bank.delete",
        object_type="bank",
        object_id=bank.id,
        details={"name": bank.name},
    )
    return bank


def set_bank_enabled(
    session: Session, *, name: str, enabled: bool, actor: str, until: datetime | None = None
) -> Bank:
    """Enable a bank, or disable it (until ``until``, after which it counts as enabled again)."""
    if enabled and until is not None:
        raise BankError("An expiry (--until) applies only when disabling.", code="invalid_until")
    until = _future(until)
    _lock_change_log(session)
    bank = get_bank(session, name=name)
    bank.enabled, bank.disabled_until = enabled, None if enabled else until
    if enabled and not bank.matching_ratio > 0:
        bank.matching_ratio = 1.0  # enabled means matching (a ratio of 0 would say otherwise)
    _log_bank_change(session, bank.id)
    record_audit(
        session,
        actor=actor,
        action="bank.enable" if enabled else "bank.disable",
        object_type="bank",
        object_id=bank.id,
        details={"until": iso(until)} if until else {},
    )
    return bank


def set_bank_ratio(session: Session, *, name: str, ratio: float, actor: str) -> Bank:
    """HMA's ``enabled_ratio``: above 0 the bank is enabled and matches that share of HMA lookups
    (a coin flip per lookup, ``/m/lookup`` only); 0 or below disables it, as ``set_bank_enabled``."""
    if not math.isfinite(ratio):
        raise BankError("enabled_ratio: must be a finite number.", code="invalid_ratio")
    _lock_change_log(session)
    bank = get_bank(session, name=name)
    enabled = ratio > 0
    if (bank.enabled, bank.matching_ratio) == (enabled, ratio) and bank.disabled_until is None:
        return bank
    bank.enabled, bank.disabled_until, bank.matching_ratio = enabled, None, ratio
    _log_bank_change(session, bank.id)
    record_audit(
        session,
        actor=actor,
        action="bank.ratio",
        object_type="bank",
        object_id=bank.id,
        details={"ratio": ratio},
    )
    return bank


def check_pdq_cap(value: int | None) -> int | None:
    """A PDQ distance cap: ``None`` (no cap) or 0-256."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PDQ_CAP:
        raise BankError(
            f"PDQ distance cap {value!r} is out of range: use 0-{MAX_PDQ_CAP} bits.", code="invalid_pdq_cap"
        )
    return value


def set_bank_pdq_cap(session: Session, *, name: str, cap: int | None, actor: str) -> Bank:
    """Cap the PDQ distance a bank's entries match at (``None``: no cap), whatever its threshold
    or the caller asks: matchers read it with the bank's policy (a ``bank`` change-log row)."""
    check_pdq_cap(cap)
    _lock_change_log(session)
    bank = get_bank(session, name=name)
    if bank.pdq_cap == cap:
        return bank
    old, bank.pdq_cap = bank.pdq_cap, cap
    _log_bank_change(session, bank.id)
    record_audit(
        session,
        actor=actor,
        action="bank.pdq_cap",
        object_type="bank",
        object_id=bank.id,
        details={"pdq_cap": [old, cap]},
    )
    return bank


def signal_type_ratios(session: Session) -> dict[str, float]:
    """HMA's per-signal-type ``enabled_ratio`` overrides (a type without one is 1.0)."""
    return {r.name: float(r.enabled_ratio) for r in session.scalars(select(SignalTypeSetting)).all()}


def set_signal_type_ratio(session: Session, *, name: str, ratio: float, actor: str) -> None:
    """Record HMA's ``enabled_ratio`` for a signal type (0-1, as HMA's store requires)."""
    if not (math.isfinite(ratio) and 0.0 <= ratio <= 1.0):
        raise BankError(
            f"Invalid enabled ratio {ratio}. Must be in the range 0.0-1.0 inclusive.", code="invalid_ratio"
        )
    row = session.get(SignalTypeSetting, name)
    if row is None:
        session.add(SignalTypeSetting(name=name, enabled_ratio=ratio))
    else:
        row.enabled_ratio = ratio
    record_audit(
        session,
        actor=actor,
        action="signal_type.ratio",
        object_type="signal_type",
        object_id=name,
        details={"ratio": ratio},
    )


def _future(until: datetime | None) -> datetime | None:
    if until is None:
        return None
    aware = as_utc(until)
    assert aware is not None
    if aware <= utcnow():
        raise BankError(f"The expiry {iso(aware)} is in the past; give a future time.", code="invalid_until")
    return aware


def _signal_counts(session: Session, bank_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {b: {} for b in bank_ids}
    if not bank_ids:
        return out
    rows = session.execute(
        select(BankContent.bank_id, ContentSignal.signal_type, func.count())
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .where(BankContent.bank_id.in_(bank_ids))
        .group_by(BankContent.bank_id, ContentSignal.signal_type)
    ).all()
    for bank_id, signal_type, n in rows:
        out[bank_id][signal_type] = int(n)
    return out


def list_banks(session: Session, *, now: datetime | None = None) -> list[BankInfo]:
    """Every live bank with its entry counts, by name."""
    at = now or utcnow()
    banks = session.scalars(select(Bank).where(Bank.deleted_at.is_(None)).order_by(Bank.name_key)).all()
    ids = [b.id for b in banks]
    entries: dict[int, list[int]] = {b: [0, 0, 0] for b in ids}
    if ids:
        c = BankContent
        rows = session.execute(
            select(c.bank_id, c.enabled, c.disabled_until, c.hold_reason, c.held_until, func.count())
            .where(c.bank_id.in_(ids))
            .group_by(c.bank_id, c.enabled, c.disabled_until, c.hold_reason, c.held_until)
        ).all()
        for bank_id, enabled, until, reason, held_until, n in rows:
            entries[bank_id][0] += int(n)
            if not is_active(enabled, until, at):
                entries[bank_id][1] += int(n)
            if is_held(reason, held_until, at):
                entries[bank_id][2] += int(n)
    signals = _signal_counts(session, ids)
    return [
        BankInfo(
            id=b.id,
            name=b.name,
            description=b.description,
            pdq_threshold=b.pdq_threshold,
            is_allow_list=b.is_allow_list,
            enabled=b.enabled,
            disabled_until=as_utc(b.disabled_until),
            active=b.active(at),
            created_at=as_utc(b.created_at) or at,
            created_by=b.created_by,
            entries=entries[b.id][0],
            disabled_entries=entries[b.id][1],
            signals=dict(sorted(signals[b.id].items())),
            matching_ratio=b.matching_ratio if b.matching_ratio is not None else 1.0,
            held_entries=entries[b.id][2],
            pdq_cap=b.pdq_cap,
        )
        for b in banks
    ]


def bank_info(session: Session, *, name: str, now: datetime | None = None) -> BankInfo:
    bank = get_bank(session, name=name)
    return next(i for i in list_banks(session, now=now) if i.id == bank.id)


# --- entries --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewContent:
    """An entry to add: its signals plus the note, metadata and provenance it carries."""

    signals: tuple[SignalValue, ...]
    note: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    enabled: bool = True
    disabled_until: datetime | None = None
    created_at: datetime | None = None
    created_by: str | None = None


def entry_from_fingerprint(
    fp: Fingerprint,
    *,
    note: str | None = None,
    metadata: dict[str, Any] | None = None,
    source: str | None = None,
    types: Collection[str] | None = None,
) -> NewContent:
    """A file's fingerprint as a bank entry: every signal it has (PDQ with its quality, MD5, SHA-256
    and, for a video, its whole vPDQ: every frame hashed, the frames inside its border and the
    duration, as one value), its value alone (a query's orientations are not stored).

    ``bank add`` and the service's content uploads both come here, so content enters a bank the same
    way by either door (hash it with ``FingerprintOptions.from_settings(..., for_bank=True)``, which
    keeps every distinct video frame). ``types`` keeps only those signal types.
    """
    signals = [SignalValue(v.signal_type, v.value, v.quality) for v in fp.values()]
    if types is not None:
        signals = [s for s in signals if s.signal_type in types]
    return NewContent(signals=tuple(signals), note=note, metadata=metadata or {}, source=source)


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """What happened to one entry: added as ``content_id``, or skipped as a duplicate of one."""

    content_id: int | None
    duplicate_of: int | None = None

    @property
    def added(self) -> bool:
        return self.content_id is not None


def check_note(note: str | None) -> str | None:
    if note is None or note == "":
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise BankError(
            f"note: at most {MAX_NOTE_CHARS:,} characters; got {len(note):,}.", code="invalid_note"
        )
    return note


def check_metadata(meta: Any) -> dict[str, Any]:
    import json

    if meta is None:
        return {}
    if type(meta) is dict and not meta:  # the common case, without a JSON round to measure it
        return meta
    if not isinstance(meta, dict) or not all(isinstance(k, str) and k for k in meta):
        raise BankError("metadata: must be an object with non-empty text keys.", code="invalid_metadata")
    size = len(json.dumps(meta, ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise BankError(
            f"metadata: at most {MAX_METADATA_BYTES:,} bytes as JSON; got {size:,}.", code="invalid_metadata"
        )
    return meta


def _validated(entry: NewContent) -> NewContent:
    if not entry.signals:
        raise BankError("An entry needs at least one of pdq, md5, sha256, vpdq.", code="no_signals")
    seen = set()
    for sig in entry.signals:
        st = REGISTRY.get(sig.signal_type)
        if st is None or not st.value_ok(sig.value):
            raise BankError(f"{sig.signal_type}: not a valid signal value.", code="invalid_signal")
        if sig.signal_type in seen:
            raise BankError(f"{sig.signal_type}: given twice for one entry.", code="invalid_signal")
        seen.add(sig.signal_type)
        if sig.quality is not None and not 0 <= sig.quality <= 100:
            raise BankError(f"{sig.signal_type}_quality: must be 0-100.", code="invalid_quality")
    check_note(entry.note)
    check_metadata(entry.metadata)
    return entry


def _existing_values(
    session: Session, bank_id: int, wanted: dict[str, set[bytes]]
) -> dict[tuple[str, bytes], int]:
    """(type, value) -> content id, for the given values already in the bank."""
    found: dict[tuple[str, bytes], int] = {}
    for signal_type, values in wanted.items():
        vals = list(values)
        for i in range(0, len(vals), _INSERT_CHUNK):
            # No bank condition in SQL: the planner must drive this from the (type, value) index;
            # a bank_id filter tempts it to scan the whole bank when statistics are stale.
            rows = session.execute(
                select(ContentSignal.value, ContentSignal.content_id, BankContent.bank_id)
                .join(BankContent, BankContent.id == ContentSignal.content_id)
                .where(
                    ContentSignal.signal_type == signal_type,
                    ContentSignal.value.in_(vals[i : i + _INSERT_CHUNK]),
                )
            ).all()
            for value, content_id, in_bank in rows:
                if in_bank == bank_id:
                    found.setdefault((signal_type, bytes(value)), int(content_id))
    return found


def _refresh_statistics(session: Session) -> None:
    """Let PostgreSQL's planner see the rows this transaction added (ANALYZE counts its own rows).

    Without statistics it guesses the bank tables are tiny and answers each duplicate check by
    scanning them, which makes a large import quadratic. Done at doubling sizes: a handful of
    ANALYZEs per import, each sampling a bounded number of rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE bank_content, content_signal"))


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows straight through the driver (:func:`takeback.store.bulk.bulk_insert`); their new
    ids, in order.

    PostgreSQL: the ids are taken from the table's sequence first and inserted with the rows.
    SQLite cannot promise RETURNING order for a multi-row insert, but this transaction holds the
    database's only write lock and rowids grow by one from the current maximum, so the new ids are
    the ``len(rows)`` ids ending at the maximum after the insert.
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        ids = next_ids(conn, table, len(rows))
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        bulk_insert(conn, table, rows)
        return ids
    bulk_insert(conn, table, rows)
    last = int(conn.execute(select(func.max(table.c.id))).scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


def _insert_entries(
    session: Session,
    *,
    bank: Bank,
    entries: Sequence[NewContent],
    actor: str,
    dedup: bool = True,
    hold: Hold | None = None,
) -> list[AddOutcome]:
    """Insert entries (in chunks), skipping (``dedup``) any whose signal value is already in the
    bank; ``hold`` holds every new entry."""
    held = (
        {"hold_reason": hold.reason, "held_until": hold.until, "held_at": utcnow(), "held_by": actor}
        if hold is not None
        else {}
    )
    outcomes: list[AddOutcome] = []
    twins: dict[int, int] = {}  # outcome index -> index of the same-call entry it duplicates
    now = utcnow()
    analyze_at = _ANALYZE_FIRST
    for start in range(0, len(entries), _INSERT_CHUNK):
        chunk = entries[start : start + _INSERT_CHUNK]
        if start >= analyze_at:
            _refresh_statistics(session)
            analyze_at *= 2
        wanted: dict[str, set[bytes]] = {}
        for e in chunk:
            for sig in e.signals:
                wanted.setdefault(sig.signal_type, set()).add(sig.value)
        known = _existing_values(session, bank.id, wanted) if dedup else {}
        fresh: list[NewContent] = []
        slots: list[int] = []  # outcome index of each fresh entry
        pending: dict[tuple[str, bytes], int] = {}  # values of this chunk's fresh entries -> outcome index
        for e in chunk:
            keys = [(s.signal_type, s.value) for s in e.signals]
            dup = next((known[k] for k in keys if k in known), None)
            twin = next((pending[k] for k in keys if k in pending), None) if dedup else None
            if dup is not None:
                outcomes.append(AddOutcome(None, duplicate_of=dup))
            elif twin is not None:
                twins[len(outcomes)] = twin
                outcomes.append(AddOutcome(None))
            else:
                for k in keys:
                    pending[k] = len(outcomes)
                slots.append(len(outcomes))
                outcomes.append(AddOutcome(None))
                fresh.append(e)
        if not fresh:
            continue
        content_rows = [
            {
                "bank_id": bank.id,
                "note": check_note(e.note),
                "metadata": e.metadata or _NO_METADATA,
                "source": e.source,
                "enabled": e.enabled,
                "disabled_until": None if e.enabled else as_utc(e.disabled_until),
                "created_at": as_utc(e.created_at) or now,
                "created_by": e.created_by or actor,
                **held,
            }
            for e in fresh
        ]
        conn = session.connection()
        ids = _insert_many(conn, _CONTENT, content_rows)
        signal_rows: list[dict[str, Any]] = []
        for content_id, e, slot in zip(ids, fresh, slots, strict=True):
            outcomes[slot] = AddOutcome(int(content_id))
            signal_rows.extend(
                {
                    "content_id": content_id,
                    "signal_type": s.signal_type,
                    "value": s.value,
                    "quality": s.quality,
                }
                for s in e.signals
            )
        sig_ids = zip(
            _insert_many(conn, _SIGNAL, signal_rows), (r["signal_type"] for r in signal_rows), strict=True
        )
        indexed = indexed_types()
        changes = [
            {"op": "signal_add", "bank_id": bank.id, "content_signal_id": sid, "at": now}
            for sid, stype in sig_ids
            if stype in indexed
        ]
        bulk_insert(conn, _CHANGE, changes)
        bulk_insert(
            conn,
            _FEED,
            [
                {"bank_id": bank.id, "op": "add", "key": entry_key(e.signals), "content_id": cid, "at": now}
                for cid, e in zip(ids, fresh, strict=True)
            ],
        )
    # Duplicates of an entry added earlier in the same call point at its new id.
    for i, j in twins.items():
        outcomes[i] = AddOutcome(None, duplicate_of=outcomes[j].content_id)
    return outcomes


def _id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """[[first, last], ...] runs: compact audit details for large batches."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def add_contents(
    session: Session,
    *,
    bank_name: str,
    entries: Sequence[NewContent],
    actor: str,
    dedup: bool = True,
    hold: Hold | None = None,
) -> list[AddOutcome]:
    """Add entries to a bank. An entry sharing any signal value with one already in the bank (or
    earlier in ``entries``) is a duplicate: it is skipped and its outcome names the existing entry.
    ``dedup=False`` adds every entry as a row of its own (HMA's routes: HMA keeps no such rule).
    ``hold`` adds the new entries held (a mirror that reviews before matching).
    """
    for e in entries:
        _validated(e)
    if hold is not None:
        hold = _checked_hold(hold)
    _lock_change_log(session)
    bank = get_bank(session, name=bank_name)
    outcomes = _insert_entries(session, bank=bank, entries=entries, actor=actor, dedup=dedup, hold=hold)
    added = [o.content_id for o in outcomes if o.content_id is not None]
    record_audit(
        session,
        actor=actor,
        action="bank.content.add",
        object_type="bank",
        object_id=bank.id,
        details={
            "added": len(added),
            "duplicates": len(outcomes) - len(added),
            "content_ids": _id_ranges(added),
            **({"held": hold.reason, "held_until": iso(hold.until)} if hold is not None and added else {}),
        },
    )
    return outcomes


def _contents_in_bank(session: Session, bank: Bank, content_ids: Sequence[int]) -> list[BankContent]:
    wanted = sorted(set(int(i) for i in content_ids))
    # An id no database integer can hold names no entry (and would overflow the driver): unknown.
    storable = [i for i in wanted if 1 <= i <= _MAX_ID]
    rows: list[BankContent] = []
    for i in range(0, len(storable), _CHUNK):
        rows.extend(
            session.scalars(
                select(BankContent).where(
                    BankContent.bank_id == bank.id, BankContent.id.in_(storable[i : i + _CHUNK])
                )
            ).all()
        )
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        shown = ", ".join(str(m) for m in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise BankError(
            f"Bank {bank.name!r} has no entr{'y' if len(missing) == 1 else 'ies'} with id {shown}; "
            "nothing was changed.",
            code="unknown_content",
        )
    return rows


def remove_contents(session: Session, *, bank_name: str, content_ids: Sequence[int], actor: str) -> int:
    """Delete entries and their signals (all or none: an unknown id changes nothing)."""
    _lock_change_log(session)
    bank = get_bank(session, name=bank_name)
    rows = _contents_in_bank(session, bank, content_ids)
    ids = [r.id for r in rows]
    now = utcnow()
    _log_feed(session, bank.id, "remove", _keys_of(session, ids))
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        signal_ids = session.scalars(
            select(ContentSignal.id).where(
                ContentSignal.content_id.in_(part), ContentSignal.signal_type.in_(indexed_types())
            )
        ).all()
        if signal_ids:
            session.execute(
                insert(BankChange),
                [
                    {"op": "signal_remove", "bank_id": bank.id, "content_signal_id": s, "at": now}
                    for s in signal_ids
                ],
            )
        session.execute(delete(ContentSignal).where(ContentSignal.content_id.in_(part)))
        session.execute(delete(BankContent).where(BankContent.id.in_(part)))
    record_audit(
        session,
        actor=actor,
        action="bank.content.remove",
        object_type="bank",
        object_id=bank.id,
        details={"removed": len(ids), "content_ids": _id_ranges(ids)},
    )
    return len(ids)


def set_contents_enabled(
    session: Session,
    *,
    bank_name: str,
    content_ids: Sequence[int],
    enabled: bool,
    actor: str,
    until: datetime | None = None,
) -> int:
    """Enable entries, or disable them (until ``until``). Matching reads this state at query time,
    so no index change is needed and an expiry lapses by itself."""
    if enabled and until is not None:
        raise BankError("An expiry (--until) applies only when disabling.", code="invalid_until")
    until = _future(until)
    _lock_change_log(session)  # feed rows commit in sequence order
    bank = get_bank(session, name=bank_name)
    rows = _contents_in_bank(session, bank, content_ids)
    ids = [r.id for r in rows]
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(BankContent)
            .where(BankContent.id.in_(ids[i : i + _CHUNK]))
            .values(
                enabled=enabled,
                disabled_until=None if enabled else until,
                # enabling on purpose undoes a review's rejection
                **({"rejected_at": None} if enabled else {}),
            )
        )
    _log_feed(session, bank.id, "enable" if enabled else "disable", _keys_of(session, ids))
    record_audit(
        session,
        actor=actor,
        action="bank.content.enable" if enabled else "bank.content.disable",
        object_type="bank",
        object_id=bank.id,
        details={"content_ids": _id_ranges(ids), **({"until": iso(until)} if until else {})},
    )
    return len(ids)


def set_content_note(
    session: Session, *, bank_name: str, content_id: int, note: str | None, actor: str
) -> None:
    """Set (or, with ``None`` or ``""``, clear) one entry's note. Notes are not matched on, so no
    index change is needed."""
    clean = check_note(note)
    _lock_change_log(session)  # feed rows commit in sequence order
    bank = get_bank(session, name=bank_name)
    (row,) = _contents_in_bank(session, bank, [content_id])
    row.note = clean
    _log_feed(session, bank.id, "update", _keys_of(session, [row.id]))
    record_audit(
        session,
        actor=actor,
        action="bank.content.note",
        object_type="bank",
        object_id=bank.id,
        details={"content_ids": [[row.id, row.id]], "cleared": clean is None},
    )


# --- holds: entries kept out of matching until reviewed -------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold to put on entries: why, and (optionally) when it lapses by itself."""

    reason: HoldReason
    until: datetime | None = None


def _checked_hold(hold: Hold) -> Hold:
    if hold.reason not in HOLD_REASONS:
        raise BankError(
            f"Hold reason {hold.reason!r} is not known: use {' or '.join(HOLD_REASONS)}.",
            code="invalid_hold_reason",
        )
    return Hold(hold.reason, _future(hold.until))


def hold_entries(
    session: Session,
    *,
    bank_name: str,
    content_ids: Sequence[int],
    reason: HoldReason,
    actor: str,
    until: datetime | None = None,
) -> int:
    """Hold entries out of matching (everywhere: /v1, HMA's lookups, the CLI, video matching) with
    ``reason``, until a curator releases them or ``until`` passes. Holding an entry already held
    replaces its hold. All or nothing: an id not in the bank changes nothing.

    The bank's feed logs a ``disable`` (pages publish a held entry as disabled until its hold ends),
    so mirrors stop matching it too. Returns how many entries are now held."""
    hold = _checked_hold(Hold(reason, until))
    _lock_change_log(session)  # feed rows commit in sequence order
    bank = get_bank(session, name=bank_name)
    ids = [r.id for r in _contents_in_bank(session, bank, content_ids)]
    now = utcnow()
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(BankContent)
            .where(BankContent.id.in_(ids[i : i + _CHUNK]))
            .values(hold_reason=hold.reason, held_until=hold.until, held_at=now, held_by=actor)
        )
    _log_feed(session, bank.id, "disable", _keys_of(session, ids))
    record_audit(
        session,
        actor=actor,
        action="bank.content.hold",
        object_type="bank",
        object_id=bank.id,
        details={"content_ids": _id_ranges(ids), "reason": hold.reason, "until": iso(hold.until)},
    )
    return len(ids)


def _held_query(bank: Bank, reason: str | None, now: datetime | None) -> Any:
    """Entries of ``bank`` with a hold (``now``: only holds that have not lapsed by then)."""
    q = select(BankContent).where(BankContent.bank_id == bank.id, BankContent.hold_reason.is_not(None))
    if reason is not None:
        q = q.where(BankContent.hold_reason == reason)
    if now is not None:
        q = q.where(or_(BankContent.held_until.is_(None), BankContent.held_until > now))
    return q


def list_held(
    session: Session,
    *,
    bank_name: str,
    reason: HoldReason | None = None,
    include_lapsed: bool = False,
    limit: int | None = None,
) -> list[ContentView]:
    """A bank's held entries, oldest first (``reason``: those held for it; ``include_lapsed``: also
    those whose hold's time ran out, still waiting for a curator's word)."""
    if reason is not None and reason not in HOLD_REASONS:
        raise BankError(
            f"Hold reason {reason!r} is not known: use {' or '.join(HOLD_REASONS)}.",
            code="invalid_hold_reason",
        )
    bank = get_bank(session, name=bank_name)
    q = _held_query(bank, reason, None if include_lapsed else utcnow()).order_by(BankContent.id)
    if limit is not None:
        q = q.limit(max(0, limit))
    return _views(session, bank, session.scalars(q).all())


@dataclass(frozen=True, slots=True)
class ReleaseReport:
    """What a release did: ``accepted`` entries match from now on; ``rejected`` ones are disabled."""

    accepted: int = 0
    rejected: int = 0


def release_entries(
    session: Session,
    *,
    bank_name: str,
    accept: bool,
    actor: str,
    content_ids: Sequence[int] | None = None,
    all_held: bool = False,
    reason: HoldReason | None = None,
) -> ReleaseReport:
    """A curator's word on held entries (``content_ids``, or ``all_held``: every entry of the bank
    with a hold, of ``reason`` if given). ``accept``: the hold ends and the entry matches (unless it
    is disabled for another reason); the feed logs an ``enable``. Reject: the hold ends and the
    entry is disabled for good and marked rejected (a mirror's later updates keep it disabled;
    an explicit enable undoes it); the feed logs a ``disable``. An entry whose hold lapsed by time
    can still be accepted or rejected.

    All or nothing: ids not in the bank, or not held, are each named and nothing changes."""
    if (content_ids is None) != all_held:
        raise BankError("Name the entries to release, or all held entries; not both.", code="invalid_request")
    _lock_change_log(session)
    bank = get_bank(session, name=bank_name)
    if all_held:
        rows = list(session.scalars(_held_query(bank, reason, None).order_by(BankContent.id)).all())
    else:
        assert content_ids is not None
        rows = _contents_in_bank(session, bank, content_ids)
        not_held = sorted(
            r.id for r in rows if r.hold_reason is None or (reason is not None and r.hold_reason != reason)
        )
        if not_held:
            shown = ", ".join(str(m) for m in not_held[:20]) + (" ..." if len(not_held) > 20 else "")
            what = f"held as {reason}" if reason is not None else "held"
            raise BankError(
                f"Bank {bank.name!r}: entr{'y' if len(not_held) == 1 else 'ies'} {shown} "
                f"{'is' if len(not_held) == 1 else 'are'} not {what}; nothing was changed.",
                code="not_held",
            )
    ids = [r.id for r in rows]
    now = utcnow()
    cleared = {"hold_reason": None, "held_until": None, "held_at": None, "held_by": None}
    values = cleared if accept else {**cleared, "enabled": False, "disabled_until": None, "rejected_at": now}
    for i in range(0, len(ids), _CHUNK):
        session.execute(update(BankContent).where(BankContent.id.in_(ids[i : i + _CHUNK])).values(**values))
    _log_feed(session, bank.id, "enable" if accept else "disable", _keys_of(session, ids))
    record_audit(
        session,
        actor=actor,
        action="bank.content.accept" if accept else "bank.content.reject",
        object_type="bank",
        object_id=bank.id,
        details={
            "content_ids": _id_ranges(ids),
            "reasons": sorted({str(r.hold_reason) for r in rows if r.hold_reason is not None}),
        },
    )
    return ReleaseReport(accepted=len(ids)) if accept else ReleaseReport(rejected=len(ids))


@dataclass(frozen=True, slots=True)
class ContentView:
    """One entry with its signals, as exported and shown."""

    id: int
    bank: str
    signals: dict[str, tuple[bytes, int | None]]
    note: str | None
    metadata: dict[str, Any]
    source: str | None
    enabled: bool
    disabled_until: datetime | None
    created_at: datetime
    created_by: str
    hold_reason: str | None = None
    held_until: datetime | None = None
    held_at: datetime | None = None
    held_by: str | None = None
    rejected_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        """Whether the entry matches now: enabled (or its disable lapsed) and not held."""
        return entry_active(self.enabled, self.disabled_until, self.hold_reason, self.held_until, now)

    def held(self, now: datetime) -> bool:
        return is_held(self.hold_reason, self.held_until, now)

    def hold_record(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The hold as listings show it (``None`` when the entry is not held now)."""
        if not self.held(now or utcnow()):
            return None
        return {
            "reason": self.hold_reason,
            "until": iso(self.held_until),
            "at": iso(self.held_at),
            "by": self.held_by,
        }

    def published_state(self, now: datetime | None = None) -> tuple[bool, datetime | None]:
        """``(enabled, disabled_until)`` as the entry leaves this instance (export, feed pages): a
        held entry reads as disabled until its hold ends (for good when the hold has no end), so a
        file or a mirror never gets an unreviewed entry as active, and a timed hold lapses there
        when it lapses here."""
        at = now or utcnow()
        if not self.held(at):
            return self.enabled, self.disabled_until
        if self.enabled:
            return False, self.held_until
        if self.disabled_until is None or self.held_until is None:
            return False, None
        return False, max(self.disabled_until, self.held_until)

    def to_record(self) -> dict[str, Any]:
        """The export record: exactly :func:`export_fields`, hashes as lowercase hex. A video's
        ``vpdq`` is its packed value in hex (lossless: border-cropped frames and duration included;
        ``VpdqSignal.validate`` reads it back). A held entry is written disabled until its hold
        ends (:meth:`published_state`)."""
        rec: dict[str, Any] = {"content_id": self.id}
        for t in REGISTRY.values():
            value, quality = self.signals.get(t.name, (None, None))
            rec[t.name] = None if value is None else value.hex()
            if t.has_quality:
                rec[f"{t.name}_quality"] = quality
        enabled, until = self.published_state()
        rec |= {
            "note": self.note,
            "metadata": self.metadata,
            "source": self.source,
            "enabled": enabled,
            "disabled_until": iso(until),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }
        return rec


def _views(session: Session, bank: Bank, rows: Sequence[BankContent]) -> list[ContentView]:
    ids = [r.id for r in rows]
    sigs: dict[int, dict[str, tuple[bytes, int | None]]] = {i: {} for i in ids}
    if ids:
        for cid, stype, value, quality in session.execute(
            select(
                ContentSignal.content_id,
                ContentSignal.signal_type,
                ContentSignal.value,
                ContentSignal.quality,
            ).where(ContentSignal.content_id.in_(ids))
        ):
            sigs[cid][stype] = (bytes(value), quality)
    return [
        ContentView(
            id=r.id,
            bank=bank.name,
            signals=sigs[r.id],
            note=r.note,
            metadata=dict(r.meta or {}),
            source=r.source,
            enabled=r.enabled,
            disabled_until=as_utc(r.disabled_until),
            created_at=as_utc(r.created_at) or utcnow(),
            created_by=r.created_by,
            hold_reason=r.hold_reason,
            held_until=as_utc(r.held_until),
            held_at=as_utc(r.held_at),
            held_by=r.held_by,
            rejected_at=as_utc(r.rejected_at),
        )
        for r in rows
    ]


def views_by_id(session: Session, *, bank: Bank, content_ids: Sequence[int]) -> dict[int, ContentView]:
    """The entries of ``bank`` among ``content_ids`` (those that still exist), by id. Plain rows,
    not ORM objects: a feed page reads tens of thousands at a time."""
    wanted = sorted(set(content_ids))
    out: dict[int, ContentView] = {}
    step = _CHUNK * 4
    c, sc = _CONTENT.c, _SIGNAL.c
    for i in range(0, len(wanted), step):
        part = wanted[i : i + step]
        # A feed page's ids are mostly a dense run (a full sync: all of them): read the run by
        # range instead of rendering thousands of IN parameters, and drop the ids not asked for.
        dense = part[-1] - part[0] < 2 * len(part)
        keep = set(part) if dense else None
        sig_where = sc.content_id.between(part[0], part[-1]) if dense else sc.content_id.in_(part)
        sigs: dict[int, dict[str, tuple[bytes, int | None]]] = {}
        for cid, stype, value, quality in session.execute(
            select(sc.content_id, sc.signal_type, sc.value, sc.quality).where(sig_where)
        ).all():
            sigs.setdefault(int(cid), {})[stype] = (bytes(value), quality)
        row_where = c.id.between(part[0], part[-1]) if dense else c.id.in_(part)
        for row in session.execute(
            select(
                c.id,
                c.note,
                c.metadata,
                c.source,
                c.enabled,
                c.disabled_until,
                c.created_at,
                c.created_by,
                c.hold_reason,
                c.held_until,
            ).where(c.bank_id == bank.id, row_where)
        ).all():
            cid = int(row[0])
            if keep is not None and cid not in keep:
                continue
            out[cid] = ContentView(
                id=cid,
                bank=bank.name,
                signals=sigs.get(cid, {}),
                note=row[1],
                metadata=dict(row[2] or {}),
                source=row[3],
                enabled=bool(row[4]),
                disabled_until=as_utc(row[5]),
                created_at=as_utc(row[6]) or utcnow(),
                created_by=row[7],
                hold_reason=row[8],
                held_until=as_utc(row[9]),
            )
    return out


@dataclass(frozen=True, slots=True)
class FeedRow:
    seq: int
    op: str
    key: str
    content_id: int | None


def feed_changes(session: Session, *, bank_id: int, after: int, limit: int) -> list[FeedRow]:
    """The feed log of one bank after ``after``, oldest first, at most ``limit`` rows."""
    f = _FEED.c
    return [
        FeedRow(int(seq), op, key, None if cid is None else int(cid))
        for seq, op, key, cid in session.execute(
            select(f.seq, f.op, f.key, f.content_id)
            .where(f.bank_id == bank_id, f.seq > after)
            .order_by(f.seq)
            .limit(limit)
        ).all()
    ]


def update_contents_state(
    session: Session,
    *,
    bank_name: str,
    updates: Sequence[tuple[int, NewContent]],
    actor: str,
    source: str,
) -> int:
    """Set entries' note, metadata and enabled state to those of ``NewContent`` (a mirror applying
    its publisher's changes); audited once, logged in the feed as updates so mirrors of mirrors follow.

    Local review stays as it is: a hold is kept (the publisher's update does not review the entry
    here), and an entry a curator rejected stays disabled whatever state the publisher sends."""
    if not updates:
        return 0
    _lock_change_log(session)
    bank = get_bank(session, name=bank_name)
    ids = [cid for cid, _ in updates]
    rejected: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        rejected.update(
            int(x)
            for x in session.scalars(
                select(BankContent.id).where(
                    BankContent.id.in_(ids[i : i + _CHUNK]), BankContent.rejected_at.is_not(None)
                )
            )
        )
    rows: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []  # rejected here: note and metadata follow, the state does not
    for cid, e in updates:
        _validated(e)
        row: dict[str, Any] = {
            "b_id": cid,
            "b_note": check_note(e.note),
            "b_meta": e.metadata or _NO_METADATA,
        }
        if cid in rejected:
            kept.append(row)
        else:
            row["b_enabled"] = e.enabled
            row["b_until"] = None if e.enabled else as_utc(e.disabled_until)
            rows.append(row)
    # One Core executemany: an ORM update per entry (with its session synchronisation) cost ~4 ms
    # each, most of a 1,000-change page.
    c = _CONTENT.c
    stmt = update(_CONTENT).where(c.id == bindparam("b_id"), c.bank_id == bank.id)
    if rows:
        session.connection().execute(
            stmt.values(
                note=bindparam("b_note"),
                metadata=bindparam("b_meta"),
                enabled=bindparam("b_enabled"),
                disabled_until=bindparam("b_until"),
            ),
            rows,
        )
    if kept:
        session.connection().execute(
            stmt.values(note=bindparam("b_note"), metadata=bindparam("b_meta")), kept
        )
    _log_feed(session, bank.id, "update", _keys_of(session, ids))
    record_audit(
        session,
        actor=actor,
        action="bank.content.sync",
        object_type="bank",
        object_id=bank.id,
        details={"source": source, "updated": len(ids), "content_ids": _id_ranges(ids)},
    )
    return len(ids)


def iter_contents(
    session: Session, *, bank_name: str, newest_first: bool = False, limit: int | None = None
) -> Iterator[ContentView]:
    """A bank's entries in id order (keyset pages, so memory stays flat for any bank size)."""
    bank = get_bank(session, name=bank_name)
    last: int | None = None
    left = limit
    while left is None or left > 0:
        page = _CHUNK if left is None else min(_CHUNK, left)
        q = select(BankContent).where(BankContent.bank_id == bank.id)
        if last is not None:
            q = q.where(BankContent.id < last if newest_first else BankContent.id > last)
        q = q.order_by(BankContent.id.desc() if newest_first else BankContent.id).limit(page)
        rows = session.scalars(q).all()
        if not rows:
            return
        yield from _views(session, bank, rows)
        last = rows[-1].id
        if left is not None:
            left -= len(rows)
        session.expunge_all()


def get_content(session: Session, *, bank_name: str, content_id: int) -> ContentView:
    bank = get_bank(session, name=bank_name)
    return _views(session, bank, _contents_in_bank(session, bank, [content_id]))[0]


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    added: int
    duplicates: int


def import_contents(
    session: Session, *, bank_name: str, entries: Sequence[NewContent], actor: str, source: str
) -> ImportReport:
    """Add parsed, validated entries in the caller's one transaction: all land or none do.

    Each entry keeps the provenance it was exported with (source, created_at, created_by), so an
    export re-imported elsewhere reads the same; the audit log records who imported it and when.
    """
    return import_batches(session, bank_name=bank_name, batches=[entries], actor=actor, source=source)


def import_batches(
    session: Session,
    *,
    bank_name: str,
    batches: Iterable[Sequence[NewContent]],
    actor: str,
    source: str,
) -> ImportReport:
    """:func:`import_contents` for a file read in batches (an NSRL database is far too large to hold
    in memory): every batch goes into the caller's one transaction, audited once. The caller has
    validated the whole file first, so a bad row cannot turn up half-way through."""
    _lock_change_log(session)
    bank = get_bank(session, name=bank_name)
    rows = 0
    added: list[int] = []
    for batch in batches:
        for e in batch:
            _validated(e)
        outcomes = _insert_entries(session, bank=bank, entries=batch, actor=actor)
        rows += len(batch)
        added.extend(o.content_id for o in outcomes if o.content_id is not None)
    record_audit(
        session,
        actor=actor,
        action="bank.import",
        object_type="bank",
        object_id=bank.id,
        details={
            "file": source,
            "rows": rows,
            "added": len(added),
            "duplicates": rows - len(added),
            "content_ids": _id_ranges(added),
        },
    )
    return ImportReport(rows=rows, added=len(added), duplicates=rows - len(added))


# --- what indexes read ----------------------------------------------------------------------------


def change_watermark(session: Session) -> int:
    """The newest change-log sequence number (0 for an empty log)."""
    return int(session.scalar(select(func.coalesce(func.max(BankChange.seq), 0))) or 0)


def store_id(session: Session) -> str:
    value = session.scalar(select(BankStore.store_id).where(BankStore.id == 1))
    if value is None:  # pragma: no cover - the migration inserts it
        raise BankError("The database has no store id; run the migrations.", code="store_uninitialised")
    return value


def changes_after(session: Session, *, after: int, upto: int) -> tuple[set[int], bool]:
    """Signal ids touched by changes in ``(after, upto]``, and whether any bank changed."""
    ids: set[int] = set()
    bank_changed = False
    rows = session.execute(
        select(BankChange.op, BankChange.content_signal_id)
        .where(BankChange.seq > after, BankChange.seq <= upto)
        .execution_options(yield_per=10_000)
    )
    for row in rows:
        op, sid = row[0], row[1]
        if op == "bank":
            bank_changed = True
        elif sid is not None:
            ids.add(int(sid))
    return ids, bank_changed


def live_signal_counts(session: Session, *, signal_types: Sequence[str]) -> dict[str, int]:
    """How many signals of each of ``signal_types`` live banks hold (deleted banks' rows are kept
    for the record but count for nothing); a type with none is left out."""
    if not signal_types:
        return {}
    rows = session.execute(
        select(ContentSignal.signal_type, func.count())
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == BankContent.bank_id)
        .where(Bank.deleted_at.is_(None), ContentSignal.signal_type.in_(list(signal_types)))
        .group_by(ContentSignal.signal_type)
    ).all()
    return {str(t): int(n) for t, n in rows}


def live_signals(session: Session, *, signal_type: str, ids: Sequence[int]) -> list[tuple[int, bytes]]:
    """(id, value) of those ``ids`` that are live signals of ``signal_type`` right now."""
    out: list[tuple[int, bytes]] = []
    wanted = sorted(ids)
    for i in range(0, len(wanted), _CHUNK * 10):
        out.extend(
            (int(a), bytes(b))
            for a, b in session.execute(
                select(ContentSignal.id, ContentSignal.value)
                .select_from(ContentSignal)
                .join(BankContent, BankContent.id == ContentSignal.content_id)
                .join(Bank, Bank.id == BankContent.bank_id)
                .where(
                    ContentSignal.id.in_(wanted[i : i + _CHUNK * 10]),
                    ContentSignal.signal_type == signal_type,
                    Bank.deleted_at.is_(None),
                )
            )
        )
    return out


__all__ = [
    "AddOutcome",
    "BankError",
    "ContentView",
    "Hold",
    "ImportFileError",
    "ImportReport",
    "NewContent",
    "ReleaseReport",
    "add_contents",
    "bank_info",
    "change_watermark",
    "create_bank",
    "delete_bank",
    "entry_from_fingerprint",
    "entry_key",
    "get_bank",
    "get_content",
    "hold_entries",
    "import_batches",
    "import_contents",
    "iter_contents",
    "list_banks",
    "list_held",
    "release_entries",
    "remove_contents",
    "set_bank_enabled",
    "set_bank_pdq_cap",
    "set_bank_ratio",
    "set_contents_enabled",
    "set_signal_type_ratio",
    "signal_type_ratios",
    "store_id",
    "update_bank",
    "update_contents_state",
    "views_by_id",
]
