"""Watch services: add, list, remove, and run the checks that are due.

A check's record goes to the case's custody log (``watch.checked``: time, HTTP status, outcome,
every image's fingerprints and the case fingerprints it matched at what distance), so "it was still
up on day 3" is signed evidence. URLs appear there as SHA-256 digests (custody entries carry hashes
and ids, never text); the watch row holds the URL itself. A takedown whose page is clear (removed,
or the page gone) is marked removed through the cases service, which also stops its clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.cases import service as cases
from takeback.cases.models import Case, Takedown, TakedownStatus
from takeback.cases.service import CaseError
from takeback.clock import as_utc, iso_utc, utcnow
from takeback.evidence import service as evidence
from takeback.evidence.signing import Signer
from takeback.net.fetch import FetchPolicy, check_url
from takeback.portal.casework import evidence_timeline
from takeback.store import record_audit
from takeback.watch.check import CaseFingerprint, CheckLimits, PageCheck, check_page, decide, url_digest
from takeback.watch.models import Outcome, Watch

DEFAULT_EVERY_HOURS = 6
#: outcomes after which the takedown counts as removed
_CLEAR = (Outcome.REMOVED, Outcome.PAGE_GONE)


class WatchError(CaseError):
    code = "watch_error"


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now else utcnow()


def add_watch(
    session: Session,
    *,
    case: Case,
    url: str,
    actor: str,
    every_hours: int = DEFAULT_EVERY_HOURS,
    now: datetime | None = None,
) -> Watch:
    """Watch one URL of the case; it is linked to the case's takedown for the same URL, if any.
    The first check is due at once."""
    if case.deleted_at is not None:
        raise WatchError(f"Case {case.reference} was deleted.", code="case_deleted")
    if every_hours < 1:
        raise WatchError("A watch is checked at most once an hour.", code="bad_interval")
    url = (cases.clean_text(url, "URL") or "").strip()
    check_url(url, FetchPolicy())  # http(s), a host, no credentials: refused here, not at 3 a.m.
    for w in watches(session, case=case):
        if w.url == url:
            raise WatchError(
                f"Case {case.reference} already watches {url} (watch #{w.id}).", code="duplicate"
            )
    takedown = next((t for t in cases.takedowns(session, case=case) if t.url.strip() == url), None)
    current = _now(now)
    w = Watch(
        case_id=case.id,
        url=url,
        takedown_id=takedown.id if takedown else None,
        every_hours=every_hours,
        next_due_at=current,
        checks=0,
        seen_urls=[],
        created_at=current,
        created_by=actor,
    )
    session.add(w)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="watch.add",
        object_type="watch",
        object_id=w.id,
        details={"case": case.reference, "takedown": w.takedown_id, "every_hours": every_hours},
    )
    return w


def add_takedown_watches(
    session: Session,
    *,
    case: Case,
    actor: str,
    every_hours: int = DEFAULT_EVERY_HOURS,
    now: datetime | None = None,
) -> list[Watch]:
    """Watch every takedown URL of the case not watched yet, removed ones included (the point is
    that it stays down); refused ones too: a refusal is when it matters most that it is still up."""
    have = {w.url for w in watches(session, case=case)}
    added: list[Watch] = []
    for t in cases.takedowns(session, case=case):
        if t.url.strip() not in have:
            added.append(
                add_watch(session, case=case, url=t.url, actor=actor, every_hours=every_hours, now=now)
            )
            have.add(t.url.strip())
    return added


def watches(session: Session, *, case: Case) -> list[Watch]:
    return list(
        session.scalars(
            select(Watch).where(Watch.case_id == case.id, Watch.removed_at.is_(None)).order_by(Watch.id)
        )
    )


def get_watch(session: Session, *, watch_id: int) -> Watch:
    w = session.get(Watch, watch_id)
    if w is None or w.removed_at is not None:
        raise WatchError(f"There is no watch {watch_id}.", code="watch_not_found")
    return w


def remove_watch(
    session: Session, *, case: Case, watch_id: int, actor: str, now: datetime | None = None
) -> Watch:
    """Stop watching (the row stays, marked removed, so the custody log's watch ids still resolve)."""
    w = session.get(Watch, watch_id)
    if w is None or w.case_id != case.id or w.removed_at is not None:
        raise WatchError(f"Case {case.reference} has no watch {watch_id}.", code="watch_not_found")
    w.removed_at = _now(now)
    record_audit(
        session,
        actor=actor,
        action="watch.remove",
        object_type="watch",
        object_id=w.id,
        details={"case": case.reference},
    )
    return w


def delete_case_watches(session: Session, *, case: Case, actor: str) -> int:
    """Erase every watch of a case being deleted (URLs are the case's records; custody keeps only
    digests). Called before ``evidence.service.delete_case``, which sits below watch."""
    rows = list(session.scalars(select(Watch).where(Watch.case_id == case.id)))
    for w in rows:
        session.delete(w)
    if rows:
        record_audit(
            session,
            actor=actor,
            action="watch.delete_case",
            object_type="case",
            object_id=case.reference,
            details={"watches": len(rows)},
        )
    return len(rows)


def due(session: Session, *, now: datetime | None = None, case: Case | None = None) -> list[Watch]:
    """Watches due now, oldest first; never those of deleted cases."""
    q = (
        select(Watch)
        .join(Case, Case.id == Watch.case_id)
        .where(Watch.removed_at.is_(None), Watch.next_due_at <= _now(now), Case.deleted_at.is_(None))
        .order_by(Watch.next_due_at, Watch.id)
    )
    if case is not None:
        q = q.where(Watch.case_id == case.id)
    return list(session.scalars(q))


def case_fingerprints(session: Session, *, case: Case) -> list[CaseFingerprint]:
    """The case's evidence items' and (not withdrawn) portal submissions' SHA-256 and PDQ."""
    out: list[CaseFingerprint] = []
    for e in evidence_timeline(session, case=case):
        if e.kind in ("item", "submission") and e.withdrawn_at is None and (e.sha256 or e.pdq):
            out.append(CaseFingerprint(source=e.kind, id=e.id, sha256=e.sha256, pdq=e.pdq))
    return out


@dataclass
class CheckRun:
    watch: Watch
    outcome: Outcome
    reason: str | None
    check: PageCheck
    custody_seq: int
    takedown_status: str | None


def run_check(
    session: Session,
    *,
    watch: Watch,
    signer: Signer,
    actor: str,
    policy: FetchPolicy | None = None,
    limits: CheckLimits | None = None,
    now: datetime | None = None,
) -> CheckRun:
    """Check one watch now: fetch, match, record in custody, move the takedown, schedule the next."""
    case = session.get(Case, watch.case_id)
    if case is None or case.deleted_at is not None:
        raise WatchError("The watch's case was deleted.", code="case_deleted")
    current = _now(now)
    check = check_page(
        watch.url, fingerprints=case_fingerprints(session, case=case), policy=policy, limits=limits
    )
    outcome, reason = decide(
        check, watched_url=watch.url, seen_urls=list(watch.seen_urls), last_outcome=watch.last_outcome
    )
    entry = evidence.custody_log(session, case, signer).append(
        actor=actor,
        action="watch.checked",
        subject=f"watch:{watch.id}",
        details={
            "watch": watch.id,
            "takedown": watch.takedown_id,
            "url_sha256": url_digest(watch.url),
            "final_url_sha256": url_digest(check.final_url) if check.final_url else None,
            "http_status": check.http_status,
            "page": check.page_kind,
            "outcome": outcome.value,
            "reason": reason,
            "images": [i.record() for i in check.images],
            "images_skipped": check.skipped,
            "checked_at": iso_utc(current),
        },
        at=current,
    )
    seen = list(watch.seen_urls)
    seen.extend(i.url for i in check.matched if i.url not in seen)
    watch.seen_urls = seen
    watch.checks += 1
    watch.last_checked_at = current
    watch.last_outcome = outcome.value
    watch.last_http_status = check.http_status
    watch.next_due_at = current + timedelta(hours=watch.every_hours)
    takedown_status = _follow_takedown(
        session, case=case, watch=watch, outcome=outcome, actor=actor, at=current
    )
    record_audit(
        session,
        actor=actor,
        action="watch.check",
        object_type="watch",
        object_id=watch.id,
        details={
            "case": case.reference,
            "outcome": outcome.value,
            "reason": reason,
            "custody_seq": entry.seq,
        },
    )
    return CheckRun(watch, outcome, reason, check, entry.seq, takedown_status)


def _follow_takedown(
    session: Session, *, case: Case, watch: Watch, outcome: Outcome, actor: str, at: datetime
) -> str | None:
    """A clear page marks an open takedown removed (its clock met). A copy seen again is left to the
    caseworker (the custody entry and the watch say so): reopening needs a new request (part 3)."""
    if watch.takedown_id is None:
        return None
    t = session.get(Takedown, watch.takedown_id)
    if t is None:
        return None
    if outcome in _CLEAR and not TakedownStatus(t.status).is_final:
        t = cases.update_takedown(
            session,
            case=case,
            takedown_id=t.id,
            status=TakedownStatus.REMOVED,
            actor=actor,
            at=max(at, as_utc(t.sent_at)),
        )
    return t.status


def run_due(
    session: Session,
    *,
    signer: Signer,
    actor: str,
    case: Case | None = None,
    policy: FetchPolicy | None = None,
    limits: CheckLimits | None = None,
    now: datetime | None = None,
) -> list[CheckRun]:
    """Every watch due now (for a timer: ``takeback watch run``)."""
    current = _now(now)
    return [
        run_check(session, watch=w, signer=signer, actor=actor, policy=policy, limits=limits, now=current)
        for w in due(session, now=current, case=case)
    ]
