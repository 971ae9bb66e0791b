"""A portal case on the caseworker's side: sharing it (her choice), linking it, and reading it.

A case she opened on the portal is hers until she chooses to share it: she gives consent to
``caseworker-sharing`` on the portal (when she submits, or later on her case page) and tells a
caseworker her case number, which the caseworker types into the console to link it. While that
consent stands the case is open to the staff allowed to open it (``closed_to_staff`` is empty for
it); the moment she withdraws it, every caseworker loses it, whoever had linked it. Cases opened by
a caseworker at intake are not portal cases and are not gated here.

Also here, because the portal stands above the evidence locker: the evidence timeline of a case
from both (locker items, and her submissions, log and encrypted files), receipts for either, the
encrypted files read by staff (ciphertext only: the passphrase is hers and is typed into the
caseworker's browser, which decrypts), and the portal's part of an evidence bundle
(``export_case_bundle``: the one export the console and ``takeback evidence bundle`` both call).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.cases import service as cases
from takeback.cases.models import Case, Consent, Purpose
from takeback.clock import as_utc, format_local, iso_utc
from takeback.evidence import service as evidence
from takeback.evidence.bundle import ExportResult, Supplement, export_bundle
from takeback.evidence.locker import Locker
from takeback.evidence.receipts import Receipt, issue_receipt
from takeback.evidence.signing import Signer
from takeback.i18n import Translator
from takeback.portal.models import PortalAccess, PortalLogEntry, PortalSealed, PortalSubmission
from takeback.portal.service import ACTOR, PortalError, normalise_reference
from takeback.portal.timeline import log_table
from takeback.reports.document import Block, Heading, Notice, Table
from takeback.store import Database, record_audit

SHARING = Purpose.CASEWORKER_SHARING

#: one answer for a number that does not exist and one she has not shared (no probing for cases)
NOT_SHARED_MESSAGE = (
    "No case with that number is shared with caseworkers. Check the number with her; on the portal's "
    "case page she can choose to share it."
)


def is_portal_case(session: Session, *, case: Case) -> bool:
    return session.get(PortalAccess, case.id) is not None


def portal_case_ids(session: Session, case_ids: Collection[int]) -> set[int]:
    """Which of ``case_ids`` were opened on the portal (one query, for a list of cases)."""
    ids = sorted(set(case_ids))
    if not ids:
        return set()
    return set(session.scalars(select(PortalAccess.case_id).where(PortalAccess.case_id.in_(ids))))


def is_shared(session: Session, *, case: Case) -> bool:
    return cases.active_consent(session, case=case, purpose=SHARING) is not None


def set_sharing(session: Session, *, case: Case, share: bool) -> bool:
    """Her choice on the portal: share the case with caseworkers, or stop (effective at once).
    Returns whether it is now shared."""
    actor = f"{ACTOR}:{case.reference}"
    if share:
        cases.grant_consent(session, case=case, purpose=SHARING, actor=actor)
    elif is_shared(session, case=case):
        cases.withdraw_consent(session, case=case, purpose=SHARING, actor=actor)
    return share


def closed_to_staff(session: Session, case_ids: Collection[int] | None = None) -> set[int]:
    """Of ``case_ids`` (None: every case), the portal cases not shared with caseworkers right now.

    One query; staff lists and every staff route subtract these from what a role would open."""
    shared = select(Consent.case_id).where(Consent.purpose == SHARING.value, Consent.withdrawn_at.is_(None))
    stmt = select(PortalAccess.case_id).where(PortalAccess.case_id.not_in(shared))
    if case_ids is not None:
        ids = sorted(set(case_ids))
        if not ids:
            return set()
        stmt = stmt.where(PortalAccess.case_id.in_(ids))
    return set(session.scalars(stmt))


def closed_case(session: Session, case: Case) -> bool:
    """A portal case she does not share (``staff.service.assign``'s ``closed`` hook)."""
    return bool(closed_to_staff(session, [case.id]))


def open_to_staff(session: Session, *, case: Case) -> bool:
    """Whether staff may open this case at all: not deleted, and not a portal case she keeps to herself."""
    return case.deleted_at is None and case.id not in closed_to_staff(session, [case.id])


def link_shared(session: Session, *, reference: str, actor: str) -> Case:
    """The portal case a caseworker typed the number of, if she shares it; else ``PortalError``
    (``not_shared``, the same for a number that does not exist). The caller then gives the
    caseworker access (``staff.service.assign``). Audited either way when the case exists."""
    ref = normalise_reference(reference)
    case = session.scalar(select(Case).where(Case.reference == ref, Case.deleted_at.is_(None)))
    if case is None or not is_portal_case(session, case=case):
        raise PortalError(NOT_SHARED_MESSAGE, code="not_shared")
    if not is_shared(session, case=case):
        record_audit(session, actor=actor, action="portal.link_refused", object_type="case", object_id=ref)
        raise PortalError(NOT_SHARED_MESSAGE, code="not_shared")
    record_audit(session, actor=actor, action="portal.link", object_type="case", object_id=ref)
    return case


def contact_detail(session: Session, *, case: Case) -> str | None:
    """How she asked to be reached, only while she consents to contact."""
    access = session.get(PortalAccess, case.id)
    if access is None or cases.active_consent(session, case=case, purpose=Purpose.CONTACT) is None:
        return None
    return access.contact


# --- the evidence timeline -------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceEvent:
    """One thing in a case's evidence, from the locker or the portal, at the time it happened."""

    at: datetime
    source: str  # locker | portal
    kind: str  # item | submission | log | sealed
    id: int
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    size: int | None = None
    #: locker: the custody entry sealing the item; portal: None
    custody_seq: int | None = None
    #: locker: the original is in the locker; portal sealed: ciphertext is held
    stored: bool = False
    url: str | None = None
    platform: str | None = None
    account: str | None = None
    reference: str | None = None
    text: str | None = None  # a locker item's note, a log entry's details, a file's kind
    by: str | None = None
    posted_at: datetime | None = None
    happened_on: date | None = None
    withdrawn_at: datetime | None = None
    banked: bool = False
    log_kind: str | None = None
    #: sealed: the public parameters to derive her key again (salt, iterations, IV)
    params: dict[str, Any] | None = None

    @property
    def receipt_possible(self) -> bool:
        return self.kind in ("item", "submission") and bool(self.sha256 and self.md5)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def evidence_timeline(session: Session, *, case: Case) -> list[EvidenceEvent]:
    """Every piece of evidence of a case in time order: locker items (at capture), her portal
    submissions (at receipt), her log entries (on the day they happened, else when written) and her
    encrypted files. Hashes and custody sequence numbers as recorded; no content."""
    out: list[EvidenceEvent] = []
    for it in evidence.list_items(session, case=case):
        out.append(
            EvidenceEvent(
                at=as_utc(it.captured_at),
                source="locker",
                kind="item",
                id=it.id,
                sha256=it.sha256,
                md5=it.md5,
                pdq=it.pdq,
                pdq_quality=it.pdq_quality,
                size=it.size,
                custody_seq=it.custody_seq,
                stored=it.stored,
                url=it.url,
                platform=it.platform,
                account=it.account,
                text=it.note,
                by=it.captured_by,
                posted_at=as_utc(it.posted_at) if it.posted_at else None,
            )
        )
    subs = session.scalars(
        select(PortalSubmission).where(PortalSubmission.case_id == case.id).order_by(PortalSubmission.id)
    )
    for s in subs:
        out.append(
            EvidenceEvent(
                at=as_utc(s.received_at),
                source="portal",
                kind="submission",
                id=s.id,
                sha256=s.sha256,
                md5=s.md5,
                pdq=s.pdq,
                pdq_quality=s.pdq_quality,
                size=s.size,
                text=s.kind,
                withdrawn_at=as_utc(s.withdrawn_at) if s.withdrawn_at else None,
                banked=s.content_id is not None and s.withdrawn_at is None,
            )
        )
    logs = session.scalars(
        select(PortalLogEntry).where(PortalLogEntry.case_id == case.id).order_by(PortalLogEntry.id)
    )
    for e in logs:
        out.append(
            EvidenceEvent(
                at=_day_start(e.happened_on) if e.happened_on else as_utc(e.created_at),
                source="portal",
                kind="log",
                id=e.id,
                url=e.url,
                platform=e.platform,
                account=e.account,
                reference=e.reference,
                text=e.details,
                happened_on=e.happened_on,
                log_kind=e.kind,
            )
        )
    sealed = session.execute(
        select(PortalSealed.id, PortalSealed.size, PortalSealed.created_at, PortalSealed.params)
        .where(PortalSealed.case_id == case.id)
        .order_by(PortalSealed.id)
    )
    for sid, size, created, params in sealed:
        out.append(
            EvidenceEvent(
                at=as_utc(created),
                source="portal",
                kind="sealed",
                id=sid,
                size=size,
                stored=True,
                params=dict(params),
            )
        )
    out.sort(key=lambda e: (e.at, e.source, e.id))
    return out


def sealed_for_staff(session: Session, *, case: Case, sealed_id: int, actor: str) -> PortalSealed:
    """One of her encrypted files for a caseworker's browser to decrypt with the passphrase she
    gives (the server never sees it); audited as a view."""
    row = session.get(PortalSealed, sealed_id)
    if row is None or row.case_id != case.id:
        raise PortalError("There is no such encrypted file in this case.", code="unknown_entry")
    record_audit(
        session,
        actor=actor,
        action="portal.sealed.view",
        object_type="case",
        object_id=case.reference,
        details={"sealed": sealed_id},
    )
    return row


def receipt_for(
    session: Session, *, case: Case, signer: Signer, kind: str, item_id: int, actor: str
) -> Receipt:
    """A signed hash receipt for a locker item (at its capture) or a portal submission (at receipt),
    the same receipt format ``takeback evidence verify-receipt`` and the portal's /verify check."""
    if kind == "submission":
        s = session.get(PortalSubmission, item_id)
        if s is None or s.case_id != case.id:
            raise PortalError("There is no such submission in this case.", code="unknown_submission")
        at, sha256, md5, pdq = as_utc(s.received_at), s.sha256, s.md5, s.pdq
    elif kind == "item":
        it = next((i for i in evidence.list_items(session, case=case) if i.id == item_id), None)
        if it is None:
            raise PortalError("There is no such evidence item in this case.", code="unknown_entry")
        if not it.sha256 or not it.md5:
            raise PortalError(
                "This item is a link without its content, so there are no hashes to give a receipt for.",
                code="no_hashes",
            )
        at, sha256, md5, pdq = as_utc(it.captured_at), it.sha256, it.md5, it.pdq
    else:
        raise PortalError("A receipt is for an evidence item or a submission.", code="invalid_request")
    r = issue_receipt(signer, case=case.reference, received_at=at, sha256=sha256, md5=md5, pdq=pdq)
    record_audit(
        session,
        actor=actor,
        action="receipt.issue",
        object_type="case",
        object_id=case.reference,
        details={"kind": kind, "id": item_id, "key_id": signer.key_id},
    )
    return r


# --- her part of an evidence bundle ----------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return iso_utc(as_utc(at)) if at is not None else None


def bundle_supplement(session: Session, *, case: Case, signer: Signer, lang: str) -> list[Supplement]:
    """What the portal holds of a case, for its evidence bundle: her submissions (hashes as
    received, each with a signed receipt that ``takeback evidence verify-receipt`` checks against
    her original), her evidence log, and her encrypted files (ciphertext with the public
    parameters: they open only with her passphrase). Nothing for a case with no portal records."""
    subs = list(
        session.scalars(
            select(PortalSubmission).where(PortalSubmission.case_id == case.id).order_by(PortalSubmission.id)
        )
    )
    logs = list(
        session.scalars(
            select(PortalLogEntry).where(PortalLogEntry.case_id == case.id).order_by(PortalLogEntry.id)
        )
    )
    sealed = list(
        session.scalars(select(PortalSealed).where(PortalSealed.case_id == case.id).order_by(PortalSealed.id))
    )
    if not (subs or logs or sealed):
        return []
    _ = Translator(lang)
    zone = case.timezone
    files: dict[str, bytes] = {}
    receipts: dict[str, str] = {}
    sub_rows: list[dict[str, Any]] = []
    for x in subs:
        name = f"receipts/submission-{x.id:04d}.json"
        r = issue_receipt(
            signer,
            case=case.reference,
            received_at=as_utc(x.received_at),
            sha256=x.sha256,
            md5=x.md5,
            pdq=x.pdq,
        )
        files[name] = json.dumps(r.to_json(), indent=2).encode("utf-8")
        receipts[name] = x.sha256
        sub_rows.append(
            {
                "id": x.id,
                "kind": x.kind,
                "received_at": _iso(x.received_at),
                "sha256": x.sha256,
                "md5": x.md5,
                "pdq": x.pdq,
                "pdq_quality": x.pdq_quality,
                "size": x.size,
                "in_bank": x.content_id is not None and x.withdrawn_at is None,
                "withdrawn_at": _iso(x.withdrawn_at),
                "receipt": f"portal/{name}",
            }
        )
    log_rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "happened_on": e.happened_on.isoformat() if e.happened_on else None,
            "written_at": _iso(e.created_at),
            "platform": e.platform,
            "account": e.account,
            "url": e.url,
            "reference": e.reference,
            "details": e.details,
        }
        for e in logs
    ]
    sealed_rows: list[dict[str, Any]] = []
    for f in sealed:
        name = f"sealed/{f.id:04d}.bin"
        files[name] = bytes(f.ciphertext)
        sealed_rows.append(
            {
                "id": f.id,
                "stored_at": _iso(f.created_at),
                "size": f.size,
                "params": dict(f.params),
                "file": f"portal/{name}",
            }
        )
    blocks: list[Block] = [
        Heading(_("bundle.portal.title")),
        Notice(_("bundle.portal.title"), [_("bundle.portal.intro")], tone="info"),
    ]
    if sub_rows:
        blocks += [
            Heading(_("bundle.portal.sent")),
            Table(
                _("bundle.portal.sent_cols").split("|"),
                [
                    [
                        str(x.id),
                        format_local(as_utc(x.received_at), zone),
                        _(f"portal.kind.{x.kind}"),
                        x.sha256,
                        _("bundle.portal.withdrawn", when=format_local(as_utc(x.withdrawn_at), zone))
                        if x.withdrawn_at
                        else (
                            _("bundle.portal.in_bank")
                            if x.content_id is not None
                            else _("bundle.portal.not_in_bank")
                        ),
                    ]
                    for x in subs
                ],
                widths=[0.4, 1.6, 0.8, 3.6, 1.6],
                mono=frozenset({3}),
            ),
        ]
    if log_rows:
        blocks += [
            Heading(_("bundle.portal.log")),
            log_table(logs, _),
        ]
    if sealed_rows:
        blocks += [
            Heading(_("bundle.portal.sealed")),
            Table(
                _("bundle.portal.sealed_cols").split("|"),
                [
                    [
                        str(f.id),
                        format_local(as_utc(f.created_at), zone),
                        f"{f.size:,}",
                        f"portal/sealed/{f.id:04d}.bin",
                    ]
                    for f in sealed
                ],
                widths=[0.4, 1.6, 1, 3],
                mono=frozenset({3}),
            ),
            Notice(_("bundle.portal.sealed"), [_("bundle.portal.sealed_note")], tone="info"),
        ]
    return [
        Supplement(
            key="portal",
            records={"submissions": sub_rows, "log": log_rows, "sealed": sealed_rows},
            files=files,
            receipts=receipts,
            blocks=tuple(blocks),
        )
    ]


def export_case_bundle(
    db: Database,
    *,
    reference: str,
    out: Path,
    signer: Signer,
    actor: str,
    locker: Locker | None = None,
    with_originals: bool = False,
    lang: str = "en",
) -> ExportResult:
    """A case's signed evidence bundle with everything takeback holds of it: the locker's items
    and, for a case that came from the portal, her part (``bundle_supplement``)."""

    def portal_part(session: Session, case: Case, in_lang: str) -> Sequence[Supplement]:
        return bundle_supplement(session, case=case, signer=signer, lang=in_lang)

    return export_bundle(
        db,
        reference=reference,
        out=out,
        signer=signer,
        actor=actor,
        locker=locker,
        with_originals=with_originals,
        lang=lang,
        supplements=portal_part,
    )
