"""Evidence services: capture (file or URL), listing, timeline, case verification and deletion.

Capture follows the evidence standards the victim-support sector uses (Berkeley Protocol,
ISO/IEC 27037): hash at capture, keep the context (URL, handle, posting time, capture time with
zone, who captured), keep the original untouched and apart from working copies (encrypted in the
locker), and log every step in the case's custody log.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from takeback.cases.models import Case, Clock, Purpose, Referral, ReferralStatus, Takedown
from takeback.cases.notices import (
    EvidenceRef,
    NoticeError,
    NoticeFacts,
    NoticeKind,
    compose,
    cover_note,
    notice_facts,
)
from takeback.cases.service import (
    CaseError,
    active_consent,
    clean_text,
    delete_case_rows,
    referrals,
    response_times,
    takedowns,
)
from takeback.clock import as_utc, iso_utc, utcnow
from takeback.config import ACTOR_SELF
from takeback.evidence.custody import (
    CustodyLog,
    CustodyReport,
    SqlCustodyStore,
    canonical_json,
    verify_entries,
)
from takeback.evidence.errors import EvidenceError
from takeback.evidence.locker import Locker
from takeback.evidence.models import EvidenceItem, item_record
from takeback.evidence.signing import Signer
from takeback.faces.service import withdraw_case as withdraw_face_enrolments
from takeback.guidance.kb import load_kb
from takeback.media import errors as media_codes
from takeback.net.fetch import FetchPolicy, check_url, fetch_to_file
from takeback.reports.document import Document
from takeback.signals.fingerprint import fingerprint_file
from takeback.store import AuditEvent, record_audit

#: fingerprint errors after which the item is still kept (SHA-256 was computed; only PDQ is missing)
_SOFT_ERRORS = {
    media_codes.UNSUPPORTED_TYPE,
    media_codes.FILE_TOO_LARGE,
    media_codes.TOO_MANY_PIXELS,
    media_codes.TRUNCATED,
    media_codes.CORRUPT,
}


def custody_log(session: Session, case: Case, signer: Signer) -> CustodyLog:
    return CustodyLog(SqlCustodyStore(session, case.custody_log_id), signer)


def require_capture_consent(session: Session, *, case: Case, actor: str) -> None:
    """Refuse a capture without consent to hashing, in words for whoever is acting.

    Called before anything is asked for (the locker passphrase) or read, so a refusal costs nothing.
    When the person the case is about is acting (``actor`` is the ``self`` label), the message speaks
    to her: it is her consent, not someone else's to ask for.
    """
    if case.deleted_at is not None:
        raise EvidenceError(f"Case {case.reference} was deleted.", code="case_deleted")
    if active_consent(session, case=case, purpose=Purpose.HASHING) is not None:
        return
    grant = f"takeback case consent --case {case.reference} --grant hashing"
    if actor == ACTOR_SELF:
        message = (
            f"You have not given your consent to hashing for case {case.reference} yet, and takeback "
            "fingerprints your images only if you agree. Nothing was read or stored. If you agree, "
            f"record it with `{grant}`, then add the file again."
        )
    else:
        message = (
            f"Case {case.reference} has no consent for hashing: nothing was read or stored. Ask the "
            f"person the case is about; only if she agrees, record it with `{grant}`, then add the "
            "file again."
        )
    raise CaseError(message, code="consent_required")


def _guard_case(session: Session, case: Case, *, storing: bool, actor: str) -> None:
    require_capture_consent(session, case=case, actor=actor)
    if storing and case.age.under_18:
        raise EvidenceError(
            f"Case {case.reference} concerns someone who is or "
            "was under 18: takeback never stores those images. "
            "Use --hash-only to record fingerprints and context "
            "only, and report the images to the police and "
            "to a child-protection service (see `takeback guide`).",
            code="minor_images_refused",
        )


def _finish(session: Session, *, case: Case, item: EvidenceItem, signer: Signer, actor: str) -> EvidenceItem:
    """Flush, seal the record into the custody log, audit."""
    item.record_sha256 = "0" * 64
    item.custody_seq = 0
    session.add(item)
    session.flush()
    record = item_record(item, case.reference)
    digest = hashlib.sha256(canonical_json(record)).hexdigest()
    entry = custody_log(session, case, signer).append(
        actor=actor,
        action="evidence.added",
        subject=f"item:{item.id}",
        details={
            "item": item.id,
            "kind": item.kind,
            "sha256": item.sha256,
            "size": item.size,
            "stored": item.stored,
            "record_sha256": digest,
        },
        at=as_utc(item.captured_at),
    )
    item.record_sha256 = digest
    item.custody_seq = entry.seq
    record_audit(
        session,
        actor=actor,
        action="evidence.add",
        object_type="evidence_item",
        object_id=item.id,
        details={"case": case.reference, "kind": item.kind, "stored": item.stored, "custody_seq": entry.seq},
    )
    return item


def add_file(
    session: Session,
    *,
    case: Case,
    path: Path,
    actor: str,
    signer: Signer,
    locker: Locker | None,
    capture_zone: str,
    platform: str | None = None,
    account: str | None = None,
    posted_at: datetime | None = None,
    note: str | None = None,
    url: str | None = None,
    fetch: dict[str, Any] | None = None,
    original_name: str | None = None,
    now: datetime | None = None,
) -> EvidenceItem:
    """Capture a file: fingerprint it, encrypt the original into the locker (unless ``locker`` is None)."""
    _guard_case(session, case, storing=locker is not None, actor=actor)
    captured = as_utc(now) if now else utcnow()
    fp = fingerprint_file(path)
    rec = fp.to_record()  # the evidence item keeps the record's hex
    if fp.error and (fp.error["code"] not in _SOFT_ERRORS or rec["sha256"] is None):
        raise EvidenceError(f"Could not capture {path}: {fp.error['message']}", code=fp.error["code"])
    blob_id: str | None = None
    if locker is not None:
        stored = locker.store_file(path)
        if stored.sha256 != rec["sha256"]:
            locker.remove(stored.blob_id)
            raise EvidenceError(
                f"{path} changed while it was being captured (its SHA-256 differs between two reads); "
                "capture it again when nothing is writing to it.",
                code="file_changed",
            )
        blob_id = stored.blob_id
    item = EvidenceItem(
        case_id=case.id,
        kind="url" if url else "file",
        original_name=original_name if original_name is not None else (None if url else path.name),
        url=url,
        final_url=fetch.get("final_url") if fetch else None,
        platform=platform,
        account=account,
        posted_at=as_utc(posted_at) if posted_at else None,
        captured_at=captured,
        capture_zone=capture_zone,
        captured_by=actor,
        sha256=rec["sha256"],
        md5=rec["md5"],
        pdq=rec["pdq"],
        pdq_quality=rec["pdq_quality"],
        size=fp.size,
        media_type=fp.media_type,
        stored=blob_id is not None,
        blob_id=blob_id,
        note=note,
        fetch=fetch,
        fingerprint_error=fp.error,
    )
    return _finish(session, case=case, item=item, signer=signer, actor=actor)


def add_url(
    session: Session,
    *,
    case: Case,
    url: str,
    actor: str,
    signer: Signer,
    locker: Locker | None,
    capture_zone: str,
    fetch_content: bool = True,
    policy: FetchPolicy | None = None,
    platform: str | None = None,
    account: str | None = None,
    posted_at: datetime | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> EvidenceItem:
    """Capture a URL: fetch it safely and capture its bytes, or (``fetch_content=False``) record the link.

    For someone under 18 the content is never fetched: the link is recorded for reporting.
    """
    _guard_case(session, case, storing=False, actor=actor)
    check_url(url, policy or FetchPolicy())
    if case.age.under_18 or not fetch_content:
        item = EvidenceItem(
            case_id=case.id,
            kind="url",
            url=url,
            platform=platform,
            account=account,
            posted_at=as_utc(posted_at) if posted_at else None,
            captured_at=as_utc(now) if now else utcnow(),
            capture_zone=capture_zone,
            captured_by=actor,
            stored=False,
            note=note,
        )
        return _finish(session, case=case, item=item, signer=signer, actor=actor)
    with tempfile.TemporaryDirectory(prefix="takeback-fetch-") as tmp:
        dest = Path(tmp) / "content"
        result = fetch_to_file(url, dest, policy=policy)
        return add_file(
            session,
            case=case,
            path=dest,
            actor=actor,
            signer=signer,
            locker=locker,
            capture_zone=capture_zone,
            platform=platform,
            account=account,
            posted_at=posted_at,
            note=note,
            url=url,
            fetch={**result.to_record(), "fetched_at": iso_utc(utcnow())},
            original_name=None,
            now=now,
        )


def list_items(session: Session, *, case: Case) -> list[EvidenceItem]:
    return list(
        session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id))
    )


def notice_evidence(session: Session, *, case: Case) -> list[EvidenceRef]:
    """The case's evidence as ``cases.notices.notice_facts`` names it (hashes, where it was posted)."""
    return [
        EvidenceRef(
            sha256=it.sha256,
            pdq=it.pdq,
            platform=it.platform,
            account=it.account,
            url=it.url,
            posted_at=as_utc(it.posted_at) if it.posted_at else None,
        )
        for it in list_items(session, case=case)
    ]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # posted | captured | referral | takedown | response | removed | refused
    text: str
    reference: str | None = None


def timeline(session: Session, *, case: Case) -> list[TimelineEvent]:
    """Everything with a time, in order: postings, captures, reports made (with references), replies."""
    events: list[TimelineEvent] = []
    for it in list_items(session, case=case):
        where = it.url or it.original_name or f"item {it.id}"
        who = f" by {it.account}" if it.account else ""
        on = f" on {it.platform}" if it.platform else ""
        if it.posted_at:
            events.append(
                TimelineEvent(as_utc(it.posted_at), "posted", f"Posted{who}{on}: {where}", f"item {it.id}")
            )
        events.append(
            TimelineEvent(
                as_utc(it.captured_at), "captured", f"Captured by {it.captured_by}: {where}", f"item {it.id}"
            )
        )
    for r in referrals(session, case=case):
        when = as_utc(r.sent_at or r.created_at)
        channel = load_kb().channel(r.channel)
        to = f"{channel.name.en} [{channel.id}]" if channel is not None else r.channel
        if r.status in (ReferralStatus.DRAFT, ReferralStatus.PLANNED):
            text = f"Referral to {to} {r.status} (not sent yet)"
        else:
            text = f"Referred to {to} ({r.status})"
        events.append(TimelineEvent(when, "referral", text, r.reference_number))
    for t in takedowns(session, case=case):
        target = f"{t.platform}: {t.url}" if t.platform else t.url
        via = "" if t.via == "platform" else f" via {t.via}"
        events.append(
            TimelineEvent(
                as_utc(t.sent_at), "takedown", f"Removal requested{via} — {target}", t.reference_number
            )
        )
        times = response_times(t)
        if t.first_response_at and not (t.resolved_at and t.first_response_at == t.resolved_at):
            events.append(
                TimelineEvent(
                    as_utc(t.first_response_at),
                    "response",
                    f"First response after {times['first_response_hours']} h — {target}",
                    t.reference_number,
                )
            )
        if t.resolved_at:
            events.append(
                TimelineEvent(
                    as_utc(t.resolved_at),
                    t.status,
                    f"{t.status.capitalize()} after {times['resolution_hours']} h — {target}",
                    t.reference_number,
                )
            )
    events.sort(key=lambda e: (e.at, e.kind))
    return events


@dataclass
class CaseVerification:
    ok: bool
    custody: CustodyReport
    items_checked: int
    failure: str | None = None


def verify_case(session: Session, *, case: Case) -> CaseVerification:
    """Check the case's custody chain and that every item's record still matches what custody sealed."""
    store = SqlCustodyStore(session, case.custody_log_id)
    entries = list(store.entries())
    report = verify_entries(entries, log=case.custody_log_id)
    if not report.ok:
        return CaseVerification(
            False, report, 0, report.failure.message if report.failure else "custody failed"
        )
    by_seq = {e.seq: e for e in entries}
    n = 0
    for it in list_items(session, case=case):
        digest = hashlib.sha256(canonical_json(item_record(it, case.reference))).hexdigest()
        entry = by_seq.get(it.custody_seq)
        if digest != it.record_sha256 or entry is None or entry.details.get("record_sha256") != digest:
            return CaseVerification(False, report, n, f"evidence item {it.id} was changed after capture")
        n += 1
    return CaseVerification(True, report, n)


def delete_case(
    session: Session,
    *,
    case: Case,
    actor: str,
    signer: Signer,
    remove_blob: Callable[[str], bool] | None,
    now: datetime | None = None,
) -> int:
    """Delete a case: erase its originals and data, keep a tombstone and the (content-free) custody log.

    ``remove_blob`` deletes one original from the locker (``Locker.remove``, or a function that
    unlinks the blob file when the passphrase is not at hand: deleting ciphertext needs no key).
    """
    removed = 0
    for it in list_items(session, case=case):
        if it.blob_id and remove_blob is not None and remove_blob(it.blob_id):
            removed += 1
    custody_log(session, case, signer).append(
        actor=actor,
        action="case.deleted",
        subject=f"case:{case.reference}",
        details={"originals_removed": removed},
    )
    for it in list_items(session, case=case):
        session.delete(it)
    withdraw_face_enrolments(session, case=case, actor=actor)  # her face templates go with the case
    delete_case_rows(session, case=case, actor=actor, now=now)
    return removed


def blob_remover(locker_root: Path) -> Callable[[str], bool]:
    """Remove blobs by id without opening the locker (no passphrase needed to delete ciphertext)."""

    def remove(blob_id: str) -> bool:
        if len(blob_id) != 32 or any(c not in "0123456789abcdef" for c in blob_id):
            return False
        path = locker_root / "blobs" / blob_id[:2] / f"{blob_id}.tbe"
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    return remove


# --- notices ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeDraft:
    """A drafted notice: the document to send (None while a TAKE IT DOWN request lacks an element,
    then ``missing`` names each and ``problem`` says it in words), and the cover note for the sender."""

    kind: NoticeKind
    lang: str
    facts: NoticeFacts
    notice: Document | None
    cover: Document
    missing: list[str]
    problem: str | None = None


def draft_notice(
    session: Session,
    *,
    case: Case,
    kind: NoticeKind,
    actor: str,
    lang: str = "en",
    surface: str = "cli",
    urls: list[str] | None = None,
    name: str | None = None,
    contact: str | None = None,
    signature: str | None = None,
    platform: str | None = None,
    relevant_info: str | None = None,
    on_behalf_of: str | None = None,
    now: datetime | None = None,
) -> NoticeDraft:
    """Draft a TAKE IT DOWN request or an HK police / PCPD / EOC complaint from the case's records and
    the details given for this notice only (names and contact details are used, never stored).

    Audited (who drafted which kind, in which language; never the details), since a notice repeats
    the case's evidence. ``surface`` words the cover note for the CLI or the console."""
    clean = {
        "name": clean_text(name, "name"),
        "contact": clean_text(contact, "contact"),
        "signature": clean_text(signature, "signature"),
        "platform": clean_text(platform, "platform"),
        "relevant_info": clean_text(relevant_info, "relevant information"),
        "on_behalf_of": clean_text(on_behalf_of, "name"),
    }
    links = [u for u in (clean_text(x, "URL") for x in urls or []) if u] or None
    facts = notice_facts(
        session,
        case=case,
        kind=kind,
        evidence=notice_evidence(session, case=case),
        urls=links,
        now=now,
        **clean,
    )
    record_audit(
        session,
        actor=actor,
        action="notice.draft",
        object_type="case",
        object_id=case.reference,
        details={"kind": kind.value, "lang": lang, "links": len(facts.urls)},
    )
    try:
        notice, cover = compose(kind, facts, lang, surface=surface)
    except NoticeError as exc:
        return NoticeDraft(
            kind, lang, facts, None, cover_note(kind, facts, lang, surface=surface), exc.missing, exc.message
        )
    return NoticeDraft(kind, lang, facts, notice, cover, [])


# --- who saw what, when -------------------------------------------------------------------------------


def record_view(
    session: Session, *, case: Case, actor: str, what: str, details: dict[str, Any] | None = None
) -> None:
    """An audit row for reading a case (``what``: the page or item read, e.g. ``timeline``), so the
    case's audit view answers who saw what, when."""
    record_audit(
        session,
        actor=actor,
        action=f"case.view.{what}",
        object_type="case",
        object_id=case.reference,
        details=details or {},
    )


def _case_audit_filter(session: Session, case: Case) -> ColumnElement[bool]:
    ids: dict[str, list[str]] = {}
    for object_type, model in (
        ("evidence_item", EvidenceItem),
        ("referral", Referral),
        ("takedown", Takedown),
        ("clock", Clock),
    ):
        rows = session.scalars(select(model.id).where(model.case_id == case.id))
        ids[object_type] = [str(i) for i in rows]
    wanted = [and_(AuditEvent.object_type == "case", AuditEvent.object_id == case.reference)]
    wanted += [and_(AuditEvent.object_type == t, AuditEvent.object_id.in_(v)) for t, v in ids.items() if v]
    return or_(*wanted)


def case_audit(
    session: Session,
    *,
    case: Case,
    limit: int = 1000,
    before: tuple[datetime, int] | None = None,
    actor: str | None = None,
) -> list[AuditEvent]:
    """The audit events about one case, newest first: the case itself (consent, views, portal use,
    notices, bundle exports) and its evidence items, referrals, takedowns and clocks.

    Found by indexed object ids (the case's reference, the ids of its own rows), never by reading
    every row's details, so it stays quick in a log full of lookups. ``before`` (an event's time
    and id) pages back from there; ``actor`` keeps one person's events."""
    stmt = select(AuditEvent).where(_case_audit_filter(session, case))
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if before is not None:
        at, event_id = before
        stmt = stmt.where(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < event_id)))
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def case_audit_actors(session: Session, *, case: Case, limit: int = 200) -> list[str]:
    """Who appears in a case's audit log (for the audit view's filter), in name order."""
    stmt = (
        select(AuditEvent.actor)
        .where(_case_audit_filter(session, case))
        .distinct()
        .order_by(AuditEvent.actor)
        .limit(limit)
    )
    return [a for a in session.scalars(stmt) if a]
