"""Case services: intake, consent, referrals, deadline clocks and takedowns.

Keyword-only functions taking the caller's ``session``; the caller owns the transaction. Every
state change writes an audit row (``store.record_audit``), with identifiers and codes only: no
names, handles, URLs or notes in the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from takeback.cases.models import (
    Case,
    CaseStatus,
    Clock,
    ClockStatus,
    Consent,
    Purpose,
    Referral,
    ReferralStatus,
    Takedown,
    TakedownStatus,
)
from takeback.clock import (
    Duration,
    add_months,
    as_utc,
    due_after,
    end_of_day,
    get_zone,
    parse_duration,
    utcnow,
)
from takeback.errors import TakebackError
from takeback.guidance.kb import ClockRule, ClockStart, KnowledgeBase, load_kb, name_key
from takeback.guidance.pathway import Situation, build_pathway, parse_facts
from takeback.guidance.situation import Setting, VictimAge
from takeback.store import record_audit

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class CaseError(TakebackError):
    code = "case_error"


class TextTooLongError(CaseError):
    """A free-text field over its limit: refused whole, never cut (a cut note can change its meaning)."""

    code = "too_long"

    def __init__(self, what: str, length: int, limit: int) -> None:
        super().__init__(
            f"The {what} is {length:,} characters long; at most {limit:,} are kept. Shorten it and try again."
        )
        self.what, self.length, self.limit = what, length, limit


#: the longest free text each field keeps (the columns' own sizes, and a page's worth for notes)
TEXT_LIMITS = {
    "alias": 100,
    "channel": 100,
    "reference number": 100,
    "platform": 100,
    "note": 4000,
    "URL": 2000,
    # given for one notice and never stored
    "name": 200,
    "contact": 500,
    "signature": 200,
    "relevant information": 4000,
}


def clean_text(value: str | None, what: str) -> str | None:
    """Free text as stored: stripped, ``None`` when empty, refused (``TextTooLongError``) over its limit
    and refused with a NUL (which PostgreSQL text cannot hold)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    limit = TEXT_LIMITS[what]
    if len(text) > limit:
        raise TextTooLongError(what, len(text), limit)
    if "\x00" in text:
        raise CaseError(f"The {what} contains a NUL character; remove it.", code="bad_text")
    return text


def new_reference() -> str:
    """``TB-XXXX-XXXX``: 40 random bits, easy to read aloud and type."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"TB-{chars[:4]}-{chars[4:]}"


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else utcnow()


def create_case(
    session: Session,
    *,
    actor: str,
    jurisdiction: str,
    victim_age: VictimAge = VictimAge.ADULT,
    setting: Setting | None = None,
    timezone: str | None = None,
    incident_date: date | None = None,
    alias: str | None = None,
    consents: tuple[Purpose, ...] = (),
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> Case:
    """Open a pseudonymous case; starts the clocks that run from the incident date."""
    base = kb or load_kb()
    j = base.get(jurisdiction)
    zone = timezone or j.timezone
    get_zone(zone)
    current = _now(now)
    if incident_date is not None and incident_date > current.astimezone(get_zone(zone)).date():
        raise CaseError(
            f"The incident date {incident_date.isoformat()} is in the future.", code="future_time"
        )
    alias = clean_text(alias, "alias")
    reference = new_reference()
    while session.scalar(select(Case.id).where(Case.reference == reference)) is not None:
        reference = new_reference()
    case = Case(
        reference=reference,
        alias=alias,
        jurisdiction=j.code,
        victim_age=victim_age.value,
        setting=setting.value if setting else None,
        timezone=zone,
        incident_date=incident_date,
        status=CaseStatus.OPEN.value,
        created_at=current,
        created_by=actor,
    )
    session.add(case)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="case.create",
        object_type="case",
        object_id=reference,
        details={"jurisdiction": j.code, "victim_age": victim_age.value, "setting": case.setting},
    )
    for purpose in consents:
        grant_consent(session, case=case, purpose=purpose, actor=actor, now=current)
    if incident_date is not None:
        for rule in j.clocks:
            if rule.starts is ClockStart.INCIDENT and _clock_fits_case(rule, case, base):
                start, due = incident_window(incident_date, parse_duration(rule.duration), zone)
                start_clock(
                    session,
                    case=case,
                    kind=rule.id,
                    started_at=start,
                    due_at=due,
                    duration=parse_duration(rule.duration),
                    subject="incident",
                    actor=actor,
                    source=rule.source,
                    confidence=rule.confidence.value,
                    kb=base,
                )
    return case


def incident_window(d: date, duration: Duration, zone: str) -> tuple[datetime, datetime]:
    """A window that runs from a date: from the start of that day to the end of the same date N months on.

    The act happened some time that day; "more than 12 months after" only begins once the
    anniversary date is over.
    """
    start = end_of_day(d - timedelta(days=1), zone)
    if duration.months:
        return start, end_of_day(add_months(d, duration.months), zone)
    return start, due_after(start, duration, zone)


def _clock_fits_case(rule: ClockRule, case: Case, kb: KnowledgeBase) -> bool:
    if rule.channel is None:
        return True
    ch = kb.channel(rule.channel)
    if ch is None or ch.when.settings is None:
        return True
    return case.setting in ch.when.settings


def get_case(session: Session, *, reference: str, include_deleted: bool = False) -> Case:
    ref = reference.strip().upper()
    case = session.scalar(select(Case).where(Case.reference == ref))
    if case is None:
        raise CaseError(f"No case {reference!r}. `takeback case new` opens one.", code="case_not_found")
    if case.deleted_at is not None and not include_deleted:
        raise CaseError(f"Case {case.reference} was deleted.", code="case_deleted")
    return case


def list_cases(session: Session) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.deleted_at.is_(None)).order_by(Case.id)))


# --- consent -----------------------------------------------------------------------------------------


def active_consent(session: Session, *, case: Case, purpose: Purpose) -> Consent | None:
    return session.scalar(
        select(Consent)
        .where(Consent.case_id == case.id, Consent.purpose == purpose.value, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id.desc())
    )


def grant_consent(
    session: Session, *, case: Case, purpose: Purpose, actor: str, now: datetime | None = None
) -> Consent:
    existing = active_consent(session, case=case, purpose=purpose)
    if existing is not None:
        return existing
    c = Consent(case_id=case.id, purpose=purpose.value, granted_at=_now(now), recorded_by=actor)
    session.add(c)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="consent.grant",
        object_type="case",
        object_id=case.reference,
        details={"purpose": purpose.value},
    )
    return c


def withdraw_consent(
    session: Session, *, case: Case, purpose: Purpose, actor: str, now: datetime | None = None
) -> Consent:
    c = active_consent(session, case=case, purpose=purpose)
    if c is None:
        raise CaseError(
            f"Case {case.reference} has no active consent for {purpose.value}.", code="no_consent"
        )
    c.withdrawn_at = _now(now)
    c.withdrawn_by = actor
    record_audit(
        session,
        actor=actor,
        action="consent.withdraw",
        object_type="case",
        object_id=case.reference,
        details={"purpose": purpose.value},
    )
    return c


def require_consent(session: Session, *, case: Case, purpose: Purpose) -> None:
    if active_consent(session, case=case, purpose=purpose) is None:
        raise CaseError(
            f"Case {case.reference} has no consent for {purpose.value}. Ask the person, then record it: "
            f"takeback case consent --case {case.reference} --grant {purpose.value}",
            code="consent_required",
        )


def consents(session: Session, *, case: Case) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.case_id == case.id).order_by(Consent.id)))


# --- referrals -----------------------------------------------------------------------------------------


_POLICE_KINDS = {"police"}


_NOT_SENT = (ReferralStatus.DRAFT, ReferralStatus.PLANNED)


def add_referral(
    session: Session,
    *,
    case: Case,
    channel: str,
    actor: str,
    status: ReferralStatus | None = None,
    sent_at: datetime | None = None,
    reference_number: str | None = None,
    note: str | None = None,
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> Referral:
    """Record a referral: a draft unless it is said to be sent (a sending time, or a status).

    ``channel`` is any name people type for a knowledge-base channel in the case's jurisdiction
    (``pcpd``, ``PCPD``, ``hk-pcpd``: the same channel, stored by its id); other text is kept as given.
    Needs consent to refer, and consent to share with police for police channels."""
    base = kb or load_kb()
    channel = clean_text(channel, "channel") or ""
    reference_number = clean_text(reference_number, "reference number")
    note = clean_text(note, "note")
    require_consent(session, case=case, purpose=Purpose.REFERRAL)
    known = base.resolve_channel(case.jurisdiction, channel)
    channel_id = known.id if known is not None else " ".join(channel.split())
    if not channel_id:
        raise CaseError("Say where the referral goes, e.g. --to hk-pcpd.", code="bad_channel")
    if known is not None and known.kind.value in _POLICE_KINDS:
        require_consent(session, case=case, purpose=Purpose.POLICE_SHARING)
    if status is None:
        status = ReferralStatus.SENT if sent_at is not None else ReferralStatus.DRAFT
    if status in _NOT_SENT and sent_at is not None:
        raise CaseError(
            f"A {status.value} referral has not been sent; give --status sent with a sending time.",
            code="bad_status",
        )
    current = _now(now)
    r = Referral(
        case_id=case.id,
        channel=channel_id,
        status=status.value,
        sent_at=as_utc(sent_at) if sent_at else (None if status in _NOT_SENT else current),
        reference_number=reference_number,
        note=note,
        created_at=current,
        updated_at=current,
    )
    session.add(r)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="referral.create",
        object_type="referral",
        object_id=r.id,
        details={"case": case.reference, "channel": channel, "status": status.value},
    )
    return r


def update_referral(
    session: Session,
    *,
    case: Case,
    referral_id: int,
    actor: str,
    status: ReferralStatus | None = None,
    reference_number: str | None = None,
    sent_at: datetime | None = None,
    now: datetime | None = None,
) -> Referral:
    """Change a referral's status or reference; a sending time marks a draft as sent."""
    r = session.get(Referral, referral_id)
    if r is None or r.case_id != case.id:
        raise CaseError(f"Case {case.reference} has no referral {referral_id}.", code="referral_not_found")
    new_reference_number = clean_text(reference_number, "reference number")
    current = _now(now)
    if status is None and sent_at is not None and ReferralStatus(r.status) in _NOT_SENT:
        status = ReferralStatus.SENT
    if status is not None:
        if status in _NOT_SENT and sent_at is not None:
            raise CaseError(f"A {status.value} referral has not been sent.", code="bad_status")
        r.status = status.value
        if status in _NOT_SENT:
            r.sent_at = None
        elif r.sent_at is None:
            r.sent_at = as_utc(sent_at) if sent_at else current
    if sent_at is not None:
        r.sent_at = as_utc(sent_at)
    if reference_number is not None:
        r.reference_number = new_reference_number
    r.updated_at = current
    record_audit(
        session,
        actor=actor,
        action="referral.update",
        object_type="referral",
        object_id=r.id,
        details={"case": case.reference, "status": r.status, "reference_set": reference_number is not None},
    )
    return r


def referrals(session: Session, *, case: Case) -> list[Referral]:
    return list(session.scalars(select(Referral).where(Referral.case_id == case.id).order_by(Referral.id)))


# --- clocks --------------------------------------------------------------------------------------------


def _start_rule_clock(
    session: Session, *, case: Case, rule: ClockRule, started: datetime, subject: str | None, actor: str
) -> Clock:
    return start_clock(
        session,
        case=case,
        kind=rule.id,
        started_at=started,
        duration=parse_duration(rule.duration),
        subject=subject,
        actor=actor,
        source=rule.source,
        confidence=rule.confidence.value,
    )


def start_clock(
    session: Session,
    *,
    case: Case,
    kind: str,
    started_at: datetime,
    actor: str,
    duration: Duration | None = None,
    subject: str | None = None,
    source: str | None = None,
    confidence: str | None = None,
    due_at: datetime | None = None,
    kb: KnowledgeBase | None = None,
) -> Clock:
    """Start a deadline clock: a knowledge-base clock by id (its own duration by default) or a custom one."""
    rule: ClockRule | None = None
    found = (kb or load_kb()).find_clock(kind)
    if found is not None:
        rule = found[1]
        kind = rule.id  # `take-it-down`, `TAKE IT DOWN` and `us-tida-48h` are one clock
    if duration is None:
        if rule is None:
            raise CaseError(
                f"{kind!r} is not a known clock; give its duration (for example --duration 48h).",
                code="unknown_clock",
            )
        duration = parse_duration(rule.duration)
    start = as_utc(started_at)
    clock = Clock(
        case_id=case.id,
        kind=kind,
        subject=subject,
        started_at=start,
        due_at=as_utc(due_at) if due_at is not None else due_after(start, duration, case.timezone),
        duration=duration.iso,
        zone=case.timezone,
        status=ClockStatus.RUNNING.value,
        source=source or (rule.source if rule else None),
        confidence=confidence or (rule.confidence.value if rule else "confirmed"),
        created_at=utcnow(),
    )
    session.add(clock)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="clock.start",
        object_type="clock",
        object_id=clock.id,
        details={"case": case.reference, "kind": kind, "duration": duration.iso},
    )
    return clock


def stop_clock(
    session: Session, *, clock: Clock, status: ClockStatus, actor: str, now: datetime | None = None
) -> Clock:
    if clock.status != ClockStatus.RUNNING.value:
        return clock
    clock.status = status.value
    clock.stopped_at = _now(now)
    record_audit(
        session,
        actor=actor,
        action="clock.stop",
        object_type="clock",
        object_id=clock.id,
        details={"status": status.value},
    )
    return clock


@dataclass(frozen=True)
class DeadlineRow:
    case: Case
    clock: Clock
    overdue: bool
    remaining: timedelta  # negative when overdue


def deadlines(
    session: Session,
    *,
    case: Case | None = None,
    overdue_only: bool = False,
    include_stopped: bool = False,
    now: datetime | None = None,
) -> list[DeadlineRow]:
    """Clocks by due time; ``overdue`` means still running past its due time."""
    current = _now(now)
    stmt = select(Clock, Case).join(Case, Case.id == Clock.case_id).where(Case.deleted_at.is_(None))
    if case is not None:
        stmt = stmt.where(Clock.case_id == case.id)
    if not include_stopped:
        stmt = stmt.where(Clock.status == ClockStatus.RUNNING.value)
    rows = []
    for clock, c in session.execute(stmt.order_by(Clock.due_at, Clock.id)).all():
        due = as_utc(clock.due_at)
        overdue = clock.status == ClockStatus.RUNNING.value and due <= current
        if overdue_only and not overdue:
            continue
        rows.append(DeadlineRow(case=c, clock=clock, overdue=overdue, remaining=due - current))
    return rows


# --- takedowns -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockPlan:
    """The removal clocks a request starts, and in words why none does (so no message claims one)."""

    rules: list[ClockRule]
    why_none: str | None = None


NO_LAW = frozenset({"none", "no", "platform", "platformrules", "policy"})


def removal_clock_plan(
    case: Case, *, via: str, sent: datetime, under: str | None = None, kb: KnowledgeBase | None = None
) -> ClockPlan:
    """Which clocks a removal request starts.

    ``under`` names the law the request was made under, as people type it (``take-it-down``,
    ``TAKE IT DOWN``, ``us-tida-48h``), or ``none`` for an ordinary report under the platform's own
    rules. Without it, the case's jurisdiction decides: a US case's platform request starts the TAKE IT
    DOWN 48-hour clock; a Hong Kong case's starts none, because Hong Kong law sets no removal deadline
    (a TAKE IT DOWN request to a platform the US Act covers is recorded with ``under="take-it-down"``).
    """
    base = kb or load_kb()
    if via == "ngo":
        return ClockPlan([], "a request made through an NGO starts no legal removal deadline")
    trigger = ClockStart.REGULATOR_NOTICE if via == "regulator" else ClockStart.TAKEDOWN_SENT
    j = base.get(case.jurisdiction)
    if under is not None and name_key(under) in NO_LAW:
        return ClockPlan(
            [], "an ordinary report under the platform's own rules has no legal removal deadline"
        )
    if under is not None:
        found = base.find_clock(under)
        if found is None or found[1].starts is not trigger:
            known = sorted(
                (r.aliases[0] if r.aliases else r.id)
                for jj in base.jurisdictions.values()
                for r in jj.clocks
                if r.starts is trigger
            )
            raise CaseError(
                f"{under!r} is not a law with a removal deadline takeback knows. Use one of "
                f"{', '.join(known)}, or none.",
                code="unknown_clock",
            )
        rules = [found[1]]
    else:
        rules = [r for r in j.clocks if r.starts is trigger]
        if not rules:
            what = "a removal notice from a regulator" if via == "regulator" else "a removal request"
            hint = (
                ""
                if via == "regulator" or j.code == "US"
                else "; if it was a TAKE IT DOWN request to a platform the US Act covers, "
                "record it with --under take-it-down"
            )
            return ClockPlan([], f"{j.name.en} law sets no deadline for {what}{hint}")
    live = [r for r in rules if r.in_force_from is None or sent.date() >= r.in_force_from]
    if not live:
        first = rules[0]
        return ClockPlan(
            [], f"the {first.label.en} duty applies only to requests sent from {first.in_force_from}"
        )
    return ClockPlan(live)


def add_takedown(
    session: Session,
    *,
    case: Case,
    url: str,
    actor: str,
    platform: str | None = None,
    sent_at: datetime | None = None,
    via: str = "platform",
    under: str | None = None,
    reference_number: str | None = None,
    note: str | None = None,
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> tuple[Takedown, list[Clock]]:
    """Record a removal request and start the clocks that apply to it (:func:`removal_clock_plan`)."""
    if via not in ("platform", "regulator", "ngo"):
        raise CaseError("--via must be platform, regulator or ngo.", code="bad_via")
    url = clean_text(url, "URL") or ""
    if not url:
        raise CaseError("Give the link the removal request is about.", code="no_url")
    platform = clean_text(platform, "platform")
    reference_number = clean_text(reference_number, "reference number")
    note = clean_text(note, "note")
    base = kb or load_kb()
    current = _now(now)
    sent = as_utc(sent_at) if sent_at else current
    plan = removal_clock_plan(case, via=via, sent=sent, under=under, kb=base)
    t = Takedown(
        case_id=case.id,
        url=url,
        platform=platform,
        via=via,
        status=TakedownStatus.SENT.value,
        sent_at=sent,
        reference_number=reference_number,
        note=note,
        updated_at=current,
    )
    session.add(t)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="takedown.create",
        object_type="takedown",
        object_id=t.id,
        details={"case": case.reference, "via": via, "clocks": [r.id for r in plan.rules]},
    )
    started = [
        _start_rule_clock(
            session, case=case, rule=rule, started=sent, subject=f"takedown:{t.id}", actor=actor
        )
        for rule in plan.rules
    ]
    return t, started


def update_takedown(
    session: Session,
    *,
    case: Case,
    takedown_id: int,
    status: TakedownStatus,
    actor: str,
    at: datetime | None = None,
    reference_number: str | None = None,
) -> Takedown:
    t = session.get(Takedown, takedown_id)
    if t is None or t.case_id != case.id:
        raise CaseError(f"Case {case.reference} has no takedown {takedown_id}.", code="takedown_not_found")
    new_reference_number = clean_text(reference_number, "reference number")
    when = as_utc(at) if at else utcnow()
    if when < as_utc(t.sent_at):
        raise CaseError("A response cannot come before the request was sent.", code="bad_time")
    t.status = status.value
    if status.is_response and t.first_response_at is None:
        t.first_response_at = when
    if status.is_final:
        t.resolved_at = when
    if reference_number is not None:
        t.reference_number = new_reference_number
    t.updated_at = utcnow()
    clocks = session.scalars(
        select(Clock).where(Clock.subject == f"takedown:{t.id}", Clock.case_id == case.id)
    )
    for clock in clocks:
        if status is TakedownStatus.REMOVED:
            stop_clock(session, clock=clock, status=ClockStatus.MET, actor=actor, now=when)
        elif status is TakedownStatus.REFUSED:
            stop_clock(session, clock=clock, status=ClockStatus.STOPPED, actor=actor, now=when)
    record_audit(
        session,
        actor=actor,
        action="takedown.update",
        object_type="takedown",
        object_id=t.id,
        details={"case": case.reference, "status": status.value},
    )
    return t


def takedowns(session: Session, *, case: Case) -> list[Takedown]:
    return list(session.scalars(select(Takedown).where(Takedown.case_id == case.id).order_by(Takedown.id)))


def response_times(t: Takedown) -> dict[str, Any]:
    """Hours from the request to the first response and to removal or refusal (None while waiting)."""
    sent = as_utc(t.sent_at)

    def hours(x: datetime | None) -> float | None:
        return None if x is None else round((as_utc(x) - sent).total_seconds() / 3600, 2)

    return {"first_response_hours": hours(t.first_response_at), "resolution_hours": hours(t.resolved_at)}


# --- the case list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """One line of a case list: the case, its running clock due first, and how many are overdue."""

    case: Case
    next_clock: Clock | None
    running: int
    overdue: int

    @property
    def next_overdue(self) -> bool:
        return self.overdue > 0


def case_rows(
    session: Session,
    *,
    case_ids: Collection[int] | None = None,
    exclude: Collection[int] = (),
    status: CaseStatus | None = CaseStatus.OPEN,
    overdue_only: bool = False,
    jurisdiction: str | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> list[CaseRow]:
    """Cases with their next deadline, overdue first, then by the next due time, then newest.

    ``case_ids`` restricts the list to the cases someone may open (None: every case) and ``exclude``
    takes some out again (portal cases she does not share: ``portal.casework``); ``status``
    None lists open and closed cases; ``text`` matches the case number or alias (any case, any part).
    Two queries whatever the number of cases: the cases, then their running clocks.
    """
    current = _now(now)
    stmt = select(Case).where(Case.deleted_at.is_(None))
    if case_ids is not None:
        ids = sorted(set(case_ids))
        if not ids:
            return []
        stmt = stmt.where(Case.id.in_(ids))
    if status is not None:
        stmt = stmt.where(Case.status == status.value)
    if jurisdiction:
        stmt = stmt.where(Case.jurisdiction == jurisdiction.strip().upper())
    needle = " ".join((text or "").split())
    if needle:
        stmt = stmt.where(
            or_(
                Case.reference.contains(needle.upper(), autoescape=True),
                func.lower(Case.alias).contains(needle.lower(), autoescape=True),
            )
        )
    skip = set(exclude)
    found = [c for c in session.scalars(stmt) if c.id not in skip]
    if not found:
        return []
    clocks: dict[int, list[Clock]] = {}
    by_id = {c.id: c for c in found}
    # a few hundred ids in one IN list; beyond that, read every running clock (still one query)
    clock_stmt = select(Clock).where(Clock.status == ClockStatus.RUNNING.value)
    if len(by_id) <= 500:
        clock_stmt = clock_stmt.where(Clock.case_id.in_(sorted(by_id)))
    for clock in session.scalars(clock_stmt.order_by(Clock.due_at, Clock.id)):
        if clock.case_id in by_id:
            clocks.setdefault(clock.case_id, []).append(clock)
    rows = []
    for c in found:
        mine = clocks.get(c.id, [])
        overdue = sum(1 for k in mine if as_utc(k.due_at) <= current)
        if overdue_only and not overdue:
            continue
        rows.append(CaseRow(case=c, next_clock=mine[0] if mine else None, running=len(mine), overdue=overdue))
    far = datetime.max.replace(tzinfo=UTC)

    def order(r: CaseRow) -> tuple[int, datetime, float]:
        due = as_utc(r.next_clock.due_at) if r.next_clock else far
        return (0 if r.overdue else 1, due, -as_utc(r.case.created_at).timestamp())

    rows.sort(key=order)
    return rows


def set_case_status(session: Session, *, case: Case, status: CaseStatus, actor: str) -> Case:
    """Close a case whose work is done, or reopen it (deletion is ``evidence.service.delete_case``)."""
    if status is CaseStatus.DELETED:
        raise CaseError(
            "A case is deleted with `takeback case delete`, not by its status.", code="bad_status"
        )
    if case.deleted_at is not None:
        raise CaseError(f"Case {case.reference} was deleted.", code="case_deleted")
    if case.status != status.value:
        case.status = status.value
        record_audit(
            session,
            actor=actor,
            action="case.status",
            object_type="case",
            object_id=case.reference,
            details={"status": status.value},
        )
    return case


# --- takedowns with their clocks ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    """A clock as a page shows it: overdue only while running past its due time."""

    clock: Clock
    overdue: bool
    remaining: timedelta  # negative when overdue; meaningless once stopped


@dataclass(frozen=True)
class TakedownRow:
    takedown: Takedown
    first_response_hours: float | None
    resolution_hours: float | None
    clocks: list[ClockState]


def clock_state(clock: Clock, now: datetime) -> ClockState:
    due = as_utc(clock.due_at)
    running = clock.status == ClockStatus.RUNNING.value
    return ClockState(clock=clock, overdue=running and due <= now, remaining=due - now)


def takedown_rows(session: Session, *, case: Case, now: datetime | None = None) -> list[TakedownRow]:
    """Every removal request of a case with its response times and the clocks it started."""
    current = _now(now)
    by_subject: dict[str, list[Clock]] = {}
    for clock in session.scalars(
        select(Clock).where(Clock.case_id == case.id, Clock.subject.like("takedown:%")).order_by(Clock.id)
    ):
        by_subject.setdefault(clock.subject or "", []).append(clock)
    rows = []
    for t in takedowns(session, case=case):
        times = response_times(t)
        rows.append(
            TakedownRow(
                takedown=t,
                first_response_hours=times["first_response_hours"],
                resolution_hours=times["resolution_hours"],
                clocks=[clock_state(k, current) for k in by_subject.get(f"takedown:{t.id}", [])],
            )
        )
    return rows


def case_clocks(session: Session, *, case: Case, now: datetime | None = None) -> list[ClockState]:
    """Every clock of a case, running ones first by due time, then stopped ones."""
    current = _now(now)
    clocks = session.scalars(select(Clock).where(Clock.case_id == case.id).order_by(Clock.due_at, Clock.id))
    states = [clock_state(k, current) for k in clocks]
    states.sort(key=lambda st: st.clock.status != ClockStatus.RUNNING.value)
    return states


# --- referrals the guidance suggests ------------------------------------------------------------------


@dataclass(frozen=True)
class SuggestedReferral:
    """A route the pathway engine suggests for the case, with the referrals already made to it."""

    channel: str  # the knowledge-base channel id
    name: str
    kind: str
    why: str
    needs: list[str]
    confidence: str
    #: the consents a referral there needs and which of them are missing
    missing_consent: list[Purpose]
    referrals: list[Referral]


def suggested_referrals(
    session: Session,
    *,
    case: Case,
    facts: Collection[str],
    lang: str = "en",
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> list[SuggestedReferral]:
    """The pathway's routes for this case's facts (``created``, ``shared``, ...), each with what was
    already referred there (reference numbers and status) and the consent a referral still needs."""
    base = kb or load_kb()
    situation = Situation(
        jurisdiction=case.jurisdiction,
        facts=parse_facts(list(facts)),
        victim_age=case.age,
        setting=Setting(case.setting) if case.setting else None,
        act_date=case.incident_date,
    )
    pathway = build_pathway(situation, lang=lang, kb=base, now=_now(now))
    made: dict[str, list[Referral]] = {}
    for r in referrals(session, case=case):
        made.setdefault(r.channel, []).append(r)
    granted = {Purpose(c.purpose) for c in consents(session, case=case) if c.withdrawn_at is None}
    out = []
    for route in pathway.routes:
        need = [Purpose.REFERRAL]
        if route.kind in _POLICE_KINDS:
            need.append(Purpose.POLICE_SHARING)
        out.append(
            SuggestedReferral(
                channel=route.id,
                name=route.name,
                kind=route.kind,
                why=route.why,
                needs=list(route.needs),
                confidence=route.confidence.value,
                missing_consent=[p for p in need if p not in granted],
                referrals=made.get(route.id, []),
            )
        )
    return out


# --- deletion ------------------------------------------------------------------------------------------


def delete_case_rows(session: Session, *, case: Case, actor: str, now: datetime | None = None) -> None:
    """Erase the case's own rows and keep a tombstone so references and custody logs resolve.

    Called by ``evidence.service.delete_case``, which first erases the evidence's originals and rows
    (each domain deletes its own rows; evidence stands above cases, so cases never names its tables).
    """
    for model in (Clock, Takedown, Referral, Consent):
        for row in session.scalars(select(model).where(model.case_id == case.id)):
            session.delete(row)
    case.deleted_at = _now(now)
    case.status = CaseStatus.DELETED.value
    case.alias = None
    case.incident_date = None
    case.setting = None
    record_audit(session, actor=actor, action="case.delete", object_type="case", object_id=case.reference)
