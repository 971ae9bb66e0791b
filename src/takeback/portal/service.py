"""The portal's services: open a case from hashes, sign in with case number + PIN, status,
withdrawal, receipts, the evidence log and browser-encrypted evidence.

Keyword-only functions over the caller's session (the web layer owns the transaction), as in
``banks.service`` and ``cases.service``. The person is never named: the case is pseudonymous,
acting is recorded as ``portal`` (or ``portal:<case>`` once she has signed in).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.banks.hits import hits_for
from takeback.banks.models import BankContent
from takeback.banks.service import NewContent
from takeback.cases import service as cases
from takeback.cases.models import Case, Purpose
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.evidence.receipts import Receipt, issue_receipt
from takeback.evidence.signing import Signer
from takeback.guidance.situation import VictimAge
from takeback.portal.models import (
    PortalAccess,
    PortalFormToken,
    PortalLogEntry,
    PortalSealed,
    PortalSubmission,
)
from takeback.signals import REGISTRY, SignalError, SignalValue
from takeback.signals.vpdq import pack, parse_text
from takeback.store import record_audit
from takeback.store import throttle as throttles

ACTOR = "portal"
PIN_DIGITS = 8
#: wrong PINs for one case number (existing or not) before it is locked, and for how long
SIGN_IN_TRIES = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
#: wrong PINs from one client, over every case number (spraying many numbers with one PIN)
CLIENT_SIGN_IN_TRIES = 30
LOG_KINDS = ("sighting", "threat", "report", "other")
SEALED_PARAM_KEYS = frozenset({"alg", "kdf", "hash", "iterations", "salt", "iv"})
MIN_PBKDF2_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
_HEX = re.compile(r"^[0-9a-f]*$")
#: frames in one video's vPDQ from the browser (about one a second: 5.5 hours of distinct frames)
MAX_VPDQ_FRAMES = 20_000
_VPDQ_LINE_CHARS = 100  # a frame,quality,hash,timestamp line is ~80 characters

# Argon2id at RFC 9106's second recommended option, scaled to a server answering many sign-ins:
# 64 MiB, 3 passes. A PIN is short, so the lockout does most of the work; the hash protects the
# PINs of a stolen database.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
_DUMMY_HASH = _HASHER.hash("0" * PIN_DIGITS)


class PortalError(TakebackError):
    code = "portal_error"


class SignInError(PortalError):
    """One answer for a wrong PIN and a case number that does not exist (no enumeration)."""

    code = "sign_in_failed"


@dataclass(frozen=True, slots=True)
class SubmittedFile:
    """What the browser sends for one file: hashes only, never the file."""

    kind: str
    sha256: str
    md5: str
    pdq: str | None = None
    pdq_quality: int | None = None
    dihedral: tuple[str, ...] = ()
    size: int | None = None
    #: a video's vPDQ as the bank stores it (packed frames), from the reference text form
    vpdq: bytes | None = None


def _vpdq(value: Any, kind: str, where: str) -> bytes | None:
    """A video's vPDQ from its reference text form, checked by takeback's own parser and bounded."""
    if value is None:
        return None
    what = f"{where} vpdq"
    if kind != "video":
        raise PortalError(f"{what}: only a video has a vPDQ.", code="invalid_signal")
    if not isinstance(value, str) or len(value) > MAX_VPDQ_FRAMES * _VPDQ_LINE_CHARS:
        raise PortalError(
            f"{what}: must be frame,quality,hash,timestamp lines, at most {MAX_VPDQ_FRAMES:,} of them.",
            code="invalid_signal",
        )
    try:
        frames = parse_text(value)
    except SignalError as exc:
        raise PortalError(f"{what}: {exc.message}", code="invalid_signal") from None
    if not frames or len(frames) > MAX_VPDQ_FRAMES:
        raise PortalError(
            f"{what}: needs 1 to {MAX_VPDQ_FRAMES:,} frame lines; this had {len(frames):,}.",
            code="invalid_signal",
        )
    return pack(frames)


def _hex(value: Any, signal_type: str, what: str) -> str:
    """A submitted hash checked by its signal type's own parser (signals.base), as lowercase hex."""
    st = REGISTRY[signal_type]
    try:
        return st.format(st.validate(value if isinstance(value, str) else "", field=what))
    except SignalError as exc:
        raise PortalError(exc.message, code="invalid_signal") from None


def parse_files(items: Any, *, max_files: int) -> list[SubmittedFile]:
    """The submission's file list, every field checked; the first bad item is named by number."""
    if not isinstance(items, list) or not items:
        raise PortalError("No files were sent: choose at least one photo or video.", code="no_files")
    if len(items) > max_files:
        raise PortalError(
            f"At most {max_files:,} files can be sent at once; this had {len(items):,}. Send them in parts.",
            code="too_many_files",
        )
    out: list[SubmittedFile] = []
    for i, it in enumerate(items, 1):
        where = f"file {i}"
        if not isinstance(it, dict):
            raise PortalError(f"{where}: not a set of hashes.", code="invalid_request")
        kind = it.get("kind", "file")
        if kind not in ("photo", "video", "file"):
            raise PortalError(f"{where}: kind must be photo, video or file.", code="invalid_request")
        pdq = it.get("pdq")
        quality = it.get("pdq_quality")
        dihedral = it.get("dihedral") or []
        if pdq is not None:
            pdq = _hex(pdq, "pdq", f"{where} pdq")
            if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
                raise PortalError(
                    f"{where} pdq_quality: must be a whole number 0-100.", code="invalid_quality"
                )
        else:
            quality = None
        if not isinstance(dihedral, list) or len(dihedral) > 8:
            raise PortalError(f"{where} dihedral: at most 8 PDQ hashes.", code="invalid_signal")
        size = it.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise PortalError(f"{where} size: must be a whole number of bytes.", code="invalid_request")
        out.append(
            SubmittedFile(
                kind=kind,
                sha256=_hex(it.get("sha256"), "sha256", f"{where} sha256"),
                md5=_hex(it.get("md5"), "md5", f"{where} md5"),
                pdq=pdq,
                pdq_quality=quality,
                dihedral=tuple(_hex(d, "pdq", f"{where} dihedral") for d in dihedral),
                size=size,
                vpdq=_vpdq(it.get("vpdq"), kind, where),
            )
        )
    return out


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def normalise_pin(pin: str) -> str:
    """A PIN as typed (spaces, dashes, full-width digits from a Chinese keyboard) -> its digits."""
    return "".join(str(int(c)) for c in pin if c.isdigit())[:32]


def normalise_reference(text: str) -> str:
    """A case number as typed: any case, spaces or missing dashes, Crockford's look-alikes."""
    raw = re.sub(r"[\s\-_]", "", text.upper()).translate(str.maketrans("OIL", "011"))[:20]
    if raw.startswith("TB"):
        raw = raw[2:]
    return f"TB-{raw[:4]}-{raw[4:8]}" if len(raw) == 8 else f"TB-{raw}"


@dataclass(frozen=True, slots=True)
class Opened:
    """A case opened on the portal: the PIN is here once and nowhere else."""

    reference: str
    pin: str
    submitted: int
    banked: int


def _portal_bank(session: Session, name: str) -> int:
    try:
        return banks.get_bank(session, name=name).id
    except banks.UnknownBankError:
        bank = banks.create_bank(
            session, name=name, actor=ACTOR, description="Hashes victims sent through the portal"
        )
        return bank.id


def _entry(f: SubmittedFile) -> NewContent:
    sigs = [SignalValue("md5", bytes.fromhex(f.md5)), SignalValue("sha256", bytes.fromhex(f.sha256))]
    if f.pdq is not None:
        sigs.insert(0, SignalValue("pdq", bytes.fromhex(f.pdq), f.pdq_quality))
    if f.vpdq is not None:
        sigs.insert(0, SignalValue("vpdq", f.vpdq))
    return NewContent(signals=tuple(sigs), source=ACTOR)


def submit(
    session: Session,
    *,
    files: Sequence[SubmittedFile],
    block: bool,
    contact: bool,
    contact_detail: str | None = None,
    jurisdiction: str,
    bank_name: str,
    now: datetime | None = None,
) -> Opened:
    """Open a case for hashes she sent. With ``block`` (her consent to block on partner platforms)
    they go into the portal bank at once; without it they are kept only for her receipts."""
    at = as_utc(now) if now is not None else utcnow()
    consents = tuple(p for p, yes in ((Purpose.HASHING, block), (Purpose.CONTACT, contact)) if yes)
    case = cases.create_case(
        session, actor=ACTOR, jurisdiction=jurisdiction, victim_age=VictimAge.ADULT, consents=consents, now=at
    )
    pin = new_pin()
    detail = (contact_detail or "").strip()[:500] or None
    session.add(
        PortalAccess(
            case_id=case.id, pin_hash=_HASHER.hash(pin), created_at=at, contact=detail if contact else None
        )
    )
    bank_id = _portal_bank(session, bank_name) if block else None
    outcomes = (
        banks.add_contents(session, bank_name=bank_name, entries=[_entry(f) for f in files], actor=ACTOR)
        if block
        else []
    )
    banked = 0
    for i, f in enumerate(files):
        o = outcomes[i] if outcomes else None
        content = None if o is None else (o.content_id or o.duplicate_of)
        banked += content is not None
        session.add(
            PortalSubmission(
                case_id=case.id,
                kind=f.kind,
                sha256=f.sha256,
                md5=f.md5,
                pdq=f.pdq,
                pdq_quality=f.pdq_quality,
                dihedral=list(f.dihedral),
                size=f.size,
                received_at=at,
                bank_id=bank_id,
                content_id=content,
                owns_entry=bool(o and o.content_id is not None),
            )
        )
    record_audit(
        session,
        actor=ACTOR,
        action="portal.submit",
        object_type="case",
        object_id=case.reference,
        details={"files": len(files), "banked": banked, "block": block, "contact": contact},
    )
    return Opened(case.reference, pin, len(files), banked)


# --- signing in -----------------------------------------------------------------------------------


def throttle(
    session: Session, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> bool:
    """Count one use of ``key`` (e.g. a client's submissions); False once ``limit`` is passed."""
    return throttles.use(session, key, limit=limit, window=window, now=as_utc(now) if now else utcnow())


LOCKED_MESSAGE = (
    "Too many tries for this case number. For your safety it is locked for 15 minutes; "
    "then try again. If you have lost your PIN, a new submission gives you a new case number."
)
MISMATCH_MESSAGE = "That case number and PIN do not match. Check both and try again."


def sign_in(session: Session, *, reference: str, pin: str, client: str, now: datetime | None = None) -> Case:
    """The case for a case number + PIN, or ``SignInError`` (the same for an unknown number).

    Failures are counted per case number as typed and per client, whether or not the case exists,
    and both are checked before the PIN is: a locked number answers "locked" even to the right PIN.
    The caller must commit even when this raises (the failure count is the point).
    """
    at = as_utc(now) if now is not None else utcnow()
    ref = normalise_reference(reference)
    ref_key, client_key = f"signin:{ref}", f"signin-client:{client}"
    if throttles.locked_until(session, ref_key, at) or throttles.locked_until(session, client_key, at):
        _HASHER.verify(_DUMMY_HASH, "0" * PIN_DIGITS)  # the same work as a real check
        raise SignInError(LOCKED_MESSAGE, code="sign_in_locked")
    case = session.scalar(select(Case).where(Case.reference == ref, Case.deleted_at.is_(None)))
    access = session.get(PortalAccess, case.id) if case is not None else None
    digits = normalise_pin(pin)
    try:
        _HASHER.verify(access.pin_hash if access is not None else _DUMMY_HASH, digits or "x")
        ok = access is not None and case is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or case is None:
        locked = throttles.fail(
            session, ref_key, limit=SIGN_IN_TRIES, window=SIGN_IN_WINDOW, lock=LOCKOUT, now=at
        )
        locked |= throttles.fail(
            session, client_key, limit=CLIENT_SIGN_IN_TRIES, window=timedelta(hours=1), lock=LOCKOUT, now=at
        )
        if case is not None:
            record_audit(
                session, actor=ACTOR, action="portal.sign_in_failed", object_type="case", object_id=ref
            )
        raise SignInError(
            LOCKED_MESSAGE if locked else MISMATCH_MESSAGE,
            code="sign_in_locked" if locked else "sign_in_failed",
        )
    throttles.clear(session, ref_key)
    record_audit(session, actor=ACTOR, action="portal.sign_in", object_type="case", object_id=case.reference)
    return case


def case_by_id(session: Session, case_id: int) -> Case | None:
    case = session.get(Case, case_id)
    if case is None or case.deleted_at is not None or session.get(PortalAccess, case_id) is None:
        return None
    return case


def _audit(session: Session, case: Case, action: str, details: dict[str, Any]) -> None:
    """An audit row of something she did, signed in (acting as ``portal:<case>``; ids and counts only)."""
    record_audit(
        session,
        actor=f"{ACTOR}:{case.reference}",
        action=action,
        object_type="case",
        object_id=case.reference,
        details=details,
    )


# --- status and withdrawal ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmissionView:
    id: int
    kind: str
    sha256: str
    md5: str
    pdq: str | None
    received_at: datetime
    banked: bool
    withdrawn_at: datetime | None
    hits: int
    last_hit: date | None


@dataclass(frozen=True, slots=True)
class Status:
    reference: str
    opened_at: datetime
    blocking: bool
    contact: bool
    submissions: list[SubmissionView]
    #: (day, matched lookups that day) over all her entries, oldest first
    hit_days: list[tuple[date, int]] = field(default_factory=list)

    @property
    def total_hits(self) -> int:
        return sum(n for _, n in self.hit_days)


def _submissions(session: Session, case: Case) -> list[PortalSubmission]:
    return list(
        session.scalars(
            select(PortalSubmission).where(PortalSubmission.case_id == case.id).order_by(PortalSubmission.id)
        )
    )


def status(session: Session, *, case: Case) -> Status:
    subs = _submissions(session, case)
    hits = hits_for(session, [s.content_id for s in subs if s.content_id is not None])
    by_content: dict[int, list[tuple[date, int]]] = {}
    days: dict[date, int] = {}
    for h in hits:
        by_content.setdefault(h.content_id, []).append((h.day, h.hits))
        days[h.day] = days.get(h.day, 0) + h.hits
    views = []
    for s in subs:
        mine = by_content.get(s.content_id, []) if s.content_id is not None else []
        views.append(
            SubmissionView(
                id=s.id,
                kind=s.kind,
                sha256=s.sha256,
                md5=s.md5,
                pdq=s.pdq,
                received_at=as_utc(s.received_at) or s.received_at,
                banked=s.content_id is not None and s.withdrawn_at is None,
                withdrawn_at=as_utc(s.withdrawn_at),
                hits=sum(n for _, n in mine),
                last_hit=max((d for d, _ in mine), default=None),
            )
        )
    access = session.get(PortalAccess, case.id)
    return Status(
        reference=case.reference,
        opened_at=as_utc(case.created_at) or case.created_at,
        blocking=cases.active_consent(session, case=case, purpose=Purpose.HASHING) is not None,
        contact=access is not None
        and cases.active_consent(session, case=case, purpose=Purpose.CONTACT) is not None,
        submissions=views,
        hit_days=sorted(days.items()),
    )


def withdraw(session: Session, *, case: Case, bank_name: str, submission_id: int | None = None) -> int:
    """Take her hashes out of the bank at once (all, or one submission); returns how many.

    An entry is removed only if it was created for her and no other live submission points at it;
    the consent to block is withdrawn when everything is. Audited; the submission rows stay (so her
    receipts and status still read), marked withdrawn.
    """
    actor = f"{ACTOR}:{case.reference}"
    subs = [s for s in _submissions(session, case) if s.withdrawn_at is None]
    if submission_id is not None:
        subs = [s for s in subs if s.id == submission_id]
        if not subs:
            raise PortalError(
                "There is no such submission in your case, or it was already withdrawn.",
                code="unknown_submission",
            )
    now = utcnow()
    removable: list[int] = []
    for s in subs:
        s.withdrawn_at = now
        if s.content_id is None or not s.owns_entry:
            continue
        others = session.scalar(
            select(func.count()).where(
                PortalSubmission.content_id == s.content_id,
                PortalSubmission.withdrawn_at.is_(None),
                PortalSubmission.id != s.id,
            )
        )
        if not others:
            removable.append(s.content_id)
    session.flush()
    if removable:
        try:
            bank = banks.get_bank(session, name=bank_name)
        except banks.UnknownBankError:
            bank = None
        if bank is not None:
            live = session.scalars(
                select(BankContent.id).where(BankContent.id.in_(removable), BankContent.bank_id == bank.id)
            ).all()
            if live:
                banks.remove_contents(session, bank_name=bank.name, content_ids=list(live), actor=actor)
    left = session.scalar(
        select(func.count()).where(
            PortalSubmission.case_id == case.id, PortalSubmission.withdrawn_at.is_(None)
        )
    )
    if not left and cases.active_consent(session, case=case, purpose=Purpose.HASHING) is not None:
        cases.withdraw_consent(session, case=case, purpose=Purpose.HASHING, actor=actor)
    record_audit(
        session,
        actor=actor,
        action="portal.withdraw",
        object_type="case",
        object_id=case.reference,
        details={"submissions": len(subs), "entries_removed": len(removable)},
    )
    return len(subs)


def receipt(session: Session, *, case: Case, signer: Signer, submission_id: int) -> Receipt:
    """A signed receipt for one submission's hashes (audited; nothing new is stored)."""
    s = session.get(PortalSubmission, submission_id)
    if s is None or s.case_id != case.id:
        raise PortalError("There is no such submission in your case.", code="unknown_submission")
    r = issue_receipt(
        signer,
        case=case.reference,
        received_at=as_utc(s.received_at) or s.received_at,
        sha256=s.sha256,
        md5=s.md5,
        pdq=s.pdq,
    )
    _audit(session, case, "portal.receipt", {"submission": s.id, "key_id": signer.key_id})
    return r


# --- the evidence log -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogInput:
    kind: str
    happened_on: date | None = None
    url: str | None = None
    platform: str | None = None
    account: str | None = None
    reference: str | None = None
    details: str | None = None


_LOG_LIMITS = {"url": 2000, "platform": 200, "account": 200, "reference": 200, "details": 4000}


def add_log_entry(
    session: Session, *, case: Case, entry: LogInput, now: datetime | None = None
) -> PortalLogEntry:
    at = as_utc(now) if now is not None else utcnow()
    if entry.kind not in LOG_KINDS:
        raise PortalError(f"kind: one of {', '.join(LOG_KINDS)}.", code="invalid_request")
    if entry.happened_on is not None and entry.happened_on > at.date() + timedelta(days=1):
        raise PortalError("The date is in the future.", code="future_time")
    values: dict[str, str | None] = {}
    for name, limit in _LOG_LIMITS.items():
        v = (getattr(entry, name) or "").strip()
        if len(v) > limit:
            raise PortalError(f"{name}: at most {limit:,} characters.", code="invalid_request")
        values[name] = v or None
    if not any(values.values()) and entry.happened_on is None:
        raise PortalError(
            "Write at least one thing: a link, a platform, an account or what happened.", code="empty_entry"
        )
    row = PortalLogEntry(
        case_id=case.id, kind=entry.kind, happened_on=entry.happened_on, created_at=at, **values
    )
    session.add(row)
    session.flush()
    _audit(session, case, "portal.log.add", {"entry": row.id, "kind": entry.kind})
    return row


def log_entries(session: Session, *, case: Case) -> list[PortalLogEntry]:
    rows = session.scalars(select(PortalLogEntry).where(PortalLogEntry.case_id == case.id)).all()
    return sorted(rows, key=lambda r: (r.happened_on or (as_utc(r.created_at) or r.created_at).date(), r.id))


def delete_log_entry(session: Session, *, case: Case, entry_id: int) -> None:
    row = session.get(PortalLogEntry, entry_id)
    if row is None or row.case_id != case.id:
        raise PortalError("There is no such entry in your log.", code="unknown_entry")
    session.delete(row)
    _audit(session, case, "portal.log.delete", {"entry": entry_id})


# --- encrypted evidence ---------------------------------------------------------------------------


def check_sealed_params(params: Any) -> dict[str, Any]:
    """The public parameters of a browser-encrypted file: AES-256-GCM under PBKDF2-SHA-256 with
    at least ``MIN_PBKDF2_ITERATIONS`` (a weak KDF here would be the server accepting weak keys)."""
    if not isinstance(params, dict) or set(params) != SEALED_PARAM_KEYS:
        raise PortalError(f"params: exactly {', '.join(sorted(SEALED_PARAM_KEYS))}.", code="invalid_request")
    if params["alg"] != "AES-GCM" or params["kdf"] != "PBKDF2" or params["hash"] != "SHA-256":
        raise PortalError("params: only AES-GCM with PBKDF2 / SHA-256 is accepted.", code="invalid_request")
    it = params["iterations"]
    if not isinstance(it, int) or isinstance(it, bool) or not MIN_PBKDF2_ITERATIONS <= it <= 10_000_000:
        raise PortalError(f"params.iterations: at least {MIN_PBKDF2_ITERATIONS:,}.", code="weak_kdf")
    for name, n in (("salt", 16), ("iv", 12)):
        v = params[name]
        if not isinstance(v, str) or len(v) != 2 * n or not _HEX.match(v):
            raise PortalError(f"params.{name}: {n} bytes as hexadecimal.", code="invalid_request")
    return dict(params)


def seal(
    session: Session, *, case: Case, ciphertext: bytes, params: Any, max_bytes: int, max_items: int
) -> PortalSealed:
    clean = check_sealed_params(params)
    if not 16 < len(ciphertext) <= max_bytes:
        raise PortalError(
            f"An encrypted file must be 1 byte to {max_bytes // (1024 * 1024)} MB.", code="too_large"
        )
    held = session.scalar(select(func.count()).where(PortalSealed.case_id == case.id)) or 0
    if held >= max_items:
        raise PortalError(
            f"Your case already keeps {held} encrypted files, the most it can.", code="too_many_files"
        )
    row = PortalSealed(
        case_id=case.id, ciphertext=ciphertext, params=clean, size=len(ciphertext), created_at=utcnow()
    )
    session.add(row)
    session.flush()
    _audit(session, case, "portal.sealed.add", {"sealed": row.id, "size": row.size})
    return row


def sealed_items(session: Session, *, case: Case) -> list[PortalSealed]:
    return list(
        session.scalars(select(PortalSealed).where(PortalSealed.case_id == case.id).order_by(PortalSealed.id))
    )


def sealed_item(session: Session, *, case: Case, sealed_id: int) -> PortalSealed:
    row = session.get(PortalSealed, sealed_id)
    if row is None or row.case_id != case.id:
        raise PortalError("There is no such encrypted file in your case.", code="unknown_entry")
    return row


def delete_sealed(session: Session, *, case: Case, sealed_id: int) -> None:
    row = sealed_item(session, case=case, sealed_id=sealed_id)
    session.delete(row)
    _audit(session, case, "portal.sealed.delete", {"sealed": sealed_id})


# --- form tokens ----------------------------------------------------------------------------------


def use_form_token(session: Session, nonce: str, *, now: datetime | None = None) -> bool:
    """Mark a form's one-time token used; False if it already was (a form sent twice)."""
    at = as_utc(now) if now is not None else utcnow()
    try:
        with session.begin_nested():
            session.add(PortalFormToken(nonce=nonce[:64], used_at=at))
    except IntegrityError:
        return False
    # Tokens expire within hours; forgetting old ones keeps the table small.
    session.execute(delete(PortalFormToken).where(PortalFormToken.used_at < at - timedelta(days=2)))
    return True
