"""THE chain-of-custody mechanism for the whole project: an append-only, hash-chained, signed log.

Used by the evidence locker (one log per case, in the main database) and by forensic triage (one
log per scan, in the scan's own SQLite file or a JSON Lines file). Both go through
:class:`CustodyLog` over a :class:`CustodyStore`; there is no second custody format.

Each entry is a small JSON object::

    {"v": 1, "log": "case:TB-7F3K-9QX2", "seq": 3, "at": "2026-03-10T06:00:00.000000Z",
     "actor": "caseworker-ana", "action": "evidence.added", "subject": "item:12",
     "details": {"sha256": "...", "record_sha256": "..."}, "prev": "<hash of entry 2>",
     "key": "<Ed25519 public key, base64>"}

``hash`` is the SHA-256 of the canonical JSON of that object (sorted keys, no spaces, UTF-8) and
``sig`` the Ed25519 signature of ``b"takeback-custody-v1\\0" + hash``. Changing, removing,
inserting or reordering any entry breaks the chain from that entry on; re-signing needs the
private key. Why the public key sits in every entry: a log must verify on its own (a bundle, a
case folder handed to a court), and the question "do I trust this key?" is answered by comparing
its fingerprint, not by a lookup table that could be swapped along with the log.

Details carry identifiers, hashes, counts and settings, never content or free text about a person:
the log outlives case deletion (it is append-only), so it must not hold personal data. Floats are
refused because their JSON text is not canonical across languages.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import JSON, Engine, Integer, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from takeback.clock import iso_utc, utcnow
from takeback.errors import article
from takeback.evidence.errors import CustodyError
from takeback.evidence.signing import PublicKey, Signer, b64, unb64
from takeback.store.db import Base

FORMAT_VERSION = 1
GENESIS = "0" * 64
SIGNING_DOMAIN = b"takeback-custody-v1\x00"
_BODY_KEYS = ("v", "log", "seq", "at", "actor", "action", "subject", "details", "prev", "key")


def canonical_json(obj: Any) -> bytes:
    """The one canonical JSON encoding used for hashing (custody entries, bundle records)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _check_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise CustodyError(f"custody detail {path} is a float; use an integer or a string", code="bad_detail")
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CustodyError(f"custody detail {path} has a non-text key", code="bad_detail")
            _check_value(v, f"{path}.{k}")
        return
    raise CustodyError(
        f"custody detail {path} is {article(type(value).__name__)} {type(value).__name__}; custody entries "
        "carry only JSON values "
        "(never content)",
        code="bad_detail",
    )


@dataclass(frozen=True)
class CustodyEntry:
    """One sealed entry. ``hash`` and ``sig`` cover every other field."""

    log: str
    seq: int
    at: str
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]
    prev: str
    key: str
    hash: str
    sig: str
    v: int = FORMAT_VERSION

    def body(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "log": self.log,
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev": self.prev,
            "key": self.key,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash, "sig": self.sig}

    def to_line(self) -> str:
        return canonical_json(self.to_json()).decode("utf-8")

    @property
    def at_datetime(self) -> datetime:
        return datetime.fromisoformat(self.at.replace("Z", "+00:00"))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CustodyEntry:
        """Parse without checking (``verify_entries`` checks); shape errors raise ``CustodyError``."""
        try:
            missing = [k for k in (*_BODY_KEYS, "hash", "sig") if k not in obj]
            if missing:
                raise CustodyError(f"entry lacks {', '.join(missing)}", code="custody_malformed")
            extra = sorted(set(obj) - {*_BODY_KEYS, "hash", "sig"})
            if extra:
                raise CustodyError(f"entry has unknown fields {', '.join(extra)}", code="custody_malformed")
            entry = cls(
                v=obj["v"],
                log=obj["log"],
                seq=obj["seq"],
                at=obj["at"],
                actor=obj["actor"],
                action=obj["action"],
                subject=obj["subject"],
                details=obj["details"],
                prev=obj["prev"],
                key=obj["key"],
                hash=obj["hash"],
                sig=obj["sig"],
            )
        except TypeError as exc:
            raise CustodyError(f"entry is malformed: {exc}", code="custody_malformed") from None
        types_ok = (
            type(entry.v) is int
            and type(entry.seq) is int
            and all(isinstance(x, str) for x in (entry.log, entry.at, entry.actor, entry.action))
            and all(isinstance(x, str) for x in (entry.prev, entry.key, entry.hash, entry.sig))
            and (entry.subject is None or isinstance(entry.subject, str))
            and isinstance(entry.details, dict)
        )
        if not types_ok:
            raise CustodyError("entry has a field of the wrong type", code="custody_malformed")
        return entry


def seal(
    *,
    signer: Signer,
    log: str,
    seq: int,
    prev: str,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, Any] | None,
    at: datetime | None = None,
) -> CustodyEntry:
    """Build, hash and sign an entry (does not store it)."""
    clean = dict(details or {})
    _check_value(clean, "details")
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "log": log,
        "seq": seq,
        "at": iso_utc(at or utcnow()),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": clean,
        "prev": prev,
        "key": signer.public.to_b64(),
    }
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    sig = signer.sign(SIGNING_DOMAIN + bytes.fromhex(digest))
    return CustodyEntry(
        log=log,
        seq=seq,
        at=body["at"],
        actor=actor,
        action=action,
        subject=subject,
        details=clean,
        prev=prev,
        key=body["key"],
        hash=digest,
        sig=b64(sig),
    )


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustodyFailure:
    """The first entry that does not verify, and why (``code`` is stable)."""

    seq: int | None
    code: str
    message: str


@dataclass
class CustodyReport:
    ok: bool
    count: int
    head: str
    keys: list[PublicKey] = field(default_factory=list)
    failure: CustodyFailure | None = None


def verify_entries(
    entries: Iterable[CustodyEntry | CustodyFailure],
    *,
    log: str | None = None,
    trusted_keys: Iterable[PublicKey] | None = None,
    expected_head: str | None = None,
    expected_count: int | None = None,
) -> CustodyReport:
    """Check hashes, links, order and signatures; stop at the first entry that fails.

    ``entries`` may contain :class:`CustodyFailure` items (lines a reader could not parse): the first
    one is reported where it stands in the sequence. With ``trusted_keys`` every entry must be
    signed by one of them; without, any valid Ed25519 signature passes and the report lists the keys
    used so a person can compare fingerprints.
    """
    trusted = None if trusted_keys is None else {k.raw for k in trusted_keys}
    prev = GENESIS
    expected_seq = 1
    seen_keys: dict[bytes, PublicKey] = {}

    def fail(seq: int | None, code: str, message: str) -> CustodyReport:
        return CustodyReport(
            ok=False,
            count=expected_seq - 1,
            head=prev,
            keys=list(seen_keys.values()),
            failure=CustodyFailure(seq, code, message),
        )

    for item in entries:
        if isinstance(item, CustodyFailure):
            return fail(item.seq if item.seq is not None else expected_seq, item.code, item.message)
        e = item
        n = expected_seq
        if e.v != FORMAT_VERSION:
            return fail(
                n, "custody_version", f"entry {n} has format version {e.v}, expected {FORMAT_VERSION}"
            )
        if log is not None and e.log != log:
            return fail(n, "custody_wrong_log", f"entry {n} belongs to log {e.log!r}, not {log!r}")
        if e.seq != n:
            return fail(
                n,
                "custody_sequence",
                f"entry {n} carries sequence number {e.seq}: entries were removed, inserted or reordered",
            )
        try:
            _check_value(e.details, "details")
            digest = hashlib.sha256(canonical_json(e.body())).hexdigest()
        except (CustodyError, TypeError, ValueError):
            return fail(n, "custody_malformed", f"entry {n} has details that are not plain JSON values")
        if digest != e.hash:
            return fail(
                n,
                "custody_hash_mismatch",
                f"entry {n} ({e.action}) was altered: its content does not match its recorded hash",
            )
        if e.prev != prev:
            return fail(
                n,
                "custody_chain_broken",
                f"entry {n} ({e.action}) does not link to entry {n - 1}: the chain is broken",
            )
        try:
            key = PublicKey.from_b64(e.key)
            sig = unb64(e.sig)
        except ValueError:
            return fail(n, "custody_bad_key", f"entry {n} has an unreadable key or signature")
        if not key.verify(sig, SIGNING_DOMAIN + bytes.fromhex(e.hash)):
            return fail(n, "custody_bad_signature", f"entry {n} ({e.action}) has an invalid signature")
        if trusted is not None and key.raw not in trusted:
            return fail(
                n,
                "custody_untrusted_key",
                f"entry {n} is signed by key {key.key_id}, which is not one of the trusted keys",
            )
        seen_keys.setdefault(key.raw, key)
        prev = e.hash
        expected_seq += 1
    count = expected_seq - 1
    if expected_count is not None and count != expected_count:
        return fail(
            count + 1 if count < expected_count else count,
            "custody_truncated" if count < expected_count else "custody_extra_entries",
            f"the log has {count} entries; {expected_count} were expected",
        )
    if expected_head is not None and prev != expected_head:
        return fail(
            count,
            "custody_head_mismatch",
            "the log's last entry is not the one recorded: entries were removed from or added to its end",
        )
    return CustodyReport(ok=True, count=count, head=prev, keys=list(seen_keys.values()))


# --- JSON Lines ------------------------------------------------------------------------------------


def write_jsonl(entries: Iterable[CustodyEntry], fh: Any) -> int:
    """Write entries one per line (canonical JSON); returns the count. ``fh`` is a binary file."""
    n = 0
    for e in entries:
        fh.write(e.to_line().encode("utf-8") + b"\n")
        n += 1
    return n


def read_jsonl(lines: Iterable[bytes | str]) -> Iterator[CustodyEntry | CustodyFailure]:
    """Parse JSON Lines; a line that does not parse becomes a :class:`CustodyFailure` in its place."""
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
        if not text.endswith("\n"):
            yield CustodyFailure(number, "custody_truncated", f"entry {number} is cut off (no line end)")
            return
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise CustodyError("not an object", code="custody_malformed")
            yield CustodyEntry.from_json(obj)
        except (json.JSONDecodeError, UnicodeDecodeError, CustodyError) as exc:
            why = exc.message if isinstance(exc, CustodyError) else "not valid JSON"
            yield CustodyFailure(number, "custody_malformed", f"entry {number} cannot be read: {why}")
            return


# --- stores ----------------------------------------------------------------------------------------


class CustodyStore(Protocol):
    """Where a log lives. ``add`` must refuse an entry that does not extend the current head."""

    log_id: str

    def head(self) -> CustodyEntry | None: ...

    def add(self, entry: CustodyEntry) -> None: ...

    def entries(self) -> Iterator[CustodyEntry]: ...


class CustodyRecord(Base):
    """One custody entry in a database. Append-only (database triggers refuse UPDATE and DELETE).

    Any SQLAlchemy database can hold logs: the main takeback database (migration ``0201``), or a
    scan's own SQLite file (:func:`create_custody_table`).
    """

    __tablename__ = "custody_entry"
    __table_args__ = (UniqueConstraint("log", "seq", name="uq_custody_log_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    log: Mapped[str] = mapped_column(String(200), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    sig: Mapped[str] = mapped_column(String(100))
    v: Mapped[int] = mapped_column(Integer, default=FORMAT_VERSION)

    def to_entry(self) -> CustodyEntry:
        return CustodyEntry(
            v=self.v,
            log=self.log,
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            subject=self.subject,
            details=dict(self.details),
            prev=self.prev,
            key=self.key,
            hash=self.hash,
            sig=self.sig,
        )


_DENY = "custody_entry is append-only"


def create_custody_table(engine: Engine) -> None:
    """Create ``custody_entry`` and its append-only triggers in a standalone database (a scan's file).

    The main takeback database gets the same table from migration ``0201_victim_evidence``.
    """
    CustodyRecord.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS custody_entry_no_{verb.lower()} "
                    f"BEFORE {verb} ON custody_entry BEGIN SELECT RAISE(ABORT, '{_DENY}'); END"
                )
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION custody_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{_DENY}'; END $$"
            )
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS custody_entry_append_only ON custody_entry")
            conn.exec_driver_sql(
                "CREATE TRIGGER custody_entry_append_only BEFORE UPDATE OR DELETE ON custody_entry "
                "FOR EACH ROW EXECUTE FUNCTION custody_entry_append_only()"
            )


class SqlCustodyStore:
    """A log in a SQL database, inside the caller's unit of work (the caller commits)."""

    def __init__(self, session: Session, log_id: str) -> None:
        self.session = session
        self.log_id = log_id

    def head(self) -> CustodyEntry | None:
        row = self.session.scalars(
            select(CustodyRecord)
            .where(CustodyRecord.log == self.log_id)
            .order_by(CustodyRecord.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else row.to_entry()

    def count(self) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(CustodyRecord).where(CustodyRecord.log == self.log_id)
            )
            or 0
        )

    def add(self, entry: CustodyEntry) -> None:
        row = CustodyRecord(**{k: v for k, v in entry.to_json().items()})
        try:
            with self.session.begin_nested():
                self.session.add(row)
                self.session.flush()
        except IntegrityError:
            raise CustodyError(
                f"Another process added to custody log {self.log_id} at the same moment; try again.",
                code="custody_conflict",
            ) from None

    def entries(self) -> Iterator[CustodyEntry]:
        rows = self.session.scalars(
            select(CustodyRecord).where(CustodyRecord.log == self.log_id).order_by(CustodyRecord.seq)
        )
        for row in rows:
            yield row.to_entry()


class FileCustodyStore:
    """A log in a JSON Lines file: appends are locked (``flock``), written whole and fsynced."""

    def __init__(self, path: Path, log_id: str) -> None:
        self.path = path
        self.log_id = log_id

    def _last_line(self, fd: int) -> bytes | None:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        block = 1 << 16
        end = size
        buf = b""
        while end > 0:
            start = max(0, end - block)
            buf = os.pread(fd, end - start, start) + buf
            end = start
            stripped = buf[:-1] if buf.endswith(b"\n") else buf
            if b"\n" in stripped or end == 0:
                break
        if not buf.endswith(b"\n"):
            raise CustodyError(
                f"The custody log {self.path} ends with a partial entry (a crash during a write?). "
                "Run verify on it; nothing more can be appended until it is examined.",
                code="custody_truncated",
            )
        return buf[:-1].rsplit(b"\n", 1)[-1]

    def head(self) -> CustodyEntry | None:
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return self._parse_head(fd)
        finally:
            os.close(fd)

    def _parse_head(self, fd: int) -> CustodyEntry | None:
        line = self._last_line(fd)
        if line is None:
            return None
        try:
            return CustodyEntry.from_json(json.loads(line))
        except (json.JSONDecodeError, CustodyError):
            raise CustodyError(
                f"The last entry of the custody log {self.path} cannot be read; run verify on it.",
                code="custody_malformed",
            ) from None

    def add(self, entry: CustodyEntry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            head = self._parse_head(fd)
            if (head.seq if head else 0) + 1 != entry.seq or (head.hash if head else GENESIS) != entry.prev:
                raise CustodyError(
                    f"Another writer extended custody log {self.path} meanwhile; try again.",
                    code="custody_conflict",
                )
            os.write(fd, entry.to_line().encode("utf-8") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    def entries(self) -> Iterator[CustodyEntry]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for item in read_jsonl(fh):
                if isinstance(item, CustodyFailure):
                    raise CustodyError(f"{self.path}: {item.message}", code=item.code)
                yield item


class CustodyLog:
    """Append to and read one log. The store decides where it lives; the signer who signs."""

    def __init__(self, store: CustodyStore, signer: Signer) -> None:
        self.store = store
        self.signer = signer

    @property
    def log_id(self) -> str:
        return self.store.log_id

    def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> CustodyEntry:
        head = self.store.head()
        entry = seal(
            signer=self.signer,
            log=self.log_id,
            seq=(head.seq + 1) if head else 1,
            prev=head.hash if head else GENESIS,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            at=at,
        )
        self.store.add(entry)
        return entry

    def entries(self) -> list[CustodyEntry]:
        return list(self.store.entries())

    def verify(self, *, trusted_keys: Iterable[PublicKey] | None = None) -> CustodyReport:
        return verify_entries(self.store.entries(), log=self.log_id, trusted_keys=trusted_keys)
