"""The console's case pages: the case list with its clocks, intake, linking a portal case she shares,
and the case page (consent, evidence timeline, referrals, takedowns, notices, bundle, audit view).

Thin over the services the CLI uses: ``cases.service`` and ``cases.intake``, ``evidence.service``
(notices, the audit view) and ``evidence.bundle``, ``portal.casework`` (sharing, the timeline,
receipts, her encrypted files) and ``staff.service`` (who may open which case). Every route checks
access to the case it names (a caseworker: her assigned cases; a supervisor: every case; nobody: a
portal case she does not share), every form carries the session's CSRF token (``staff_form``), and
every view and change is audited with the staff member's ``actor``.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from takeback.cases import service as cs
from takeback.cases.intake import INTAKE_PURPOSES, IntakeError, open_case, parse_intake
from takeback.cases.models import (
    Case,
    CaseStatus,
    Purpose,
    ReferralStatus,
    TakedownStatus,
)
from takeback.cases.notices import NoticeKind
from takeback.clock import as_utc, parse_when, utcnow
from takeback.errors import TakebackError
from takeback.evidence import service as ev
from takeback.evidence.signing import Signer
from takeback.faces import service as faces
from takeback.guidance.kb import load_kb
from takeback.guidance.pathway import Fact
from takeback.guidance.situation import Setting, VictimAge
from takeback.i18n import has, text_for, translate
from takeback.portal import casework
from takeback.reports.html import render_fragment
from takeback.reports.pdf import pdf_bytes
from takeback.staff import service as staff_service
from takeback.staff.models import StaffRole
from takeback.store import record_audit
from takeback.store import throttle as throttles
from takeback.web.console.pages import page_lang, render
from takeback.web.forms import Form
from takeback.web.jsonbody import GuardedRoute
from takeback.web.staffauth import Staff, StaffDenied, in_db, staff_form_with, staff_with, state_of

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)
T = TypeVar("T")

CASE_ROLES = (StaffRole.CASEWORKER, StaffRole.SUPERVISOR)
CaseStaff = Annotated[Staff, Depends(staff_with(*CASE_ROLES))]
CaseForm = Annotated[tuple[Staff, Form], Depends(staff_form_with(*CASE_ROLES))]

TABS = ("overview", "evidence", "referrals", "takedowns", "notices", "bundle", "audit")
FACTS = (Fact.CREATED, Fact.POSSESSED, Fact.SHARED, Fact.THREATENED)
DEFAULT_FACTS = ("created", "shared")
_REFERENCE = re.compile(r"^TB-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
#: portal case numbers a staff member may try to link per quarter hour (numbers are not for guessing)
LINK_TRIES = 10
LINK_WINDOW = timedelta(minutes=15)
#: the purposes shown per case; sharing a portal case is hers to give (staff may only record a withdrawal)
STAFF_PURPOSES = (*INTAKE_PURPOSES, Purpose.CASEWORKER_SHARING)
#: what each free-text field is called in a message (``cs.TEXT_LIMITS`` names)
_FIELD_KEYS = {
    "alias": "console.field.alias",
    "channel": "console.field.channel",
    "reference number": "console.field.reference",
    "platform": "console.field.platform",
    "note": "console.field.note",
    "URL": "console.field.url",
    "name": "console.field.name",
    "contact": "console.field.contact",
    "signature": "console.field.signature",
    "relevant information": "console.field.info",
}


# --- access ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """Why a case cannot be opened: the status and message key of the page that says so."""

    status: int
    key: str


def _lang(request: Request, form: Form | None = None) -> str:
    if form is not None and form.get("lang") in ("en", "zh-Hant"):
        return form.get("lang")
    return page_lang(request)


def _visible(s: Session, who: Staff) -> tuple[set[int] | None, set[int]]:
    """The case ids a staff member's role opens (None: all) and the portal cases closed to staff."""
    ids = None if who.role == StaffRole.SUPERVISOR else staff_service.assigned_case_ids(s, staff_id=who.id)
    return ids, casework.closed_to_staff(s, ids)


def _open_case(s: Session, who: Staff, reference: str) -> Case | Refused:
    """The case a URL names, if this staff member may open it now.

    A malformed or unknown number is 404; a deleted case 410 (her page may still be open); a portal
    case she does not share, or shares no longer, and a case not assigned, 403 (and audited)."""
    ref = reference.strip().upper()
    if not _REFERENCE.match(ref):
        return Refused(404, "console.case.not_found")
    try:
        case = cs.get_case(s, reference=ref)
    except cs.CaseError as exc:
        return Refused(410 if exc.code == "case_deleted" else 404, f"console.case.{exc.code}")
    if not casework.open_to_staff(s, case=case):
        why = "console.case.not_shared"
    elif not staff_service.can_open_case(s, staff_id=who.id, role=who.role, case_id=case.id):
        why = "console.case.denied"
    else:
        return case
    record_audit(s, actor=who.actor, action="case.view_refused", object_type="case", object_id=ref)
    return Refused(403, why)


def _refused(request: Request, who: Staff, lang: str, refused: Refused) -> Response:
    return render(
        request,
        "message.html",
        staff=who,
        lang=lang,
        title_key={403: "console.error.title_denied", 410: "console.case.deleted_title"}.get(
            refused.status, "console.error.title_missing"
        ),
        status=refused.status,
        message=translate(refused.key, lang),
        link=f"/console/cases?lang={lang}",
        link_text=translate("console.cases.back", lang),
    )


async def _db(request: Request, work: Callable[[Session], T]) -> T:
    return await in_db(request, work)


def problem_text(exc: TakebackError, lang: str) -> str:
    """A domain error in the page's words: its code's message from the catalogue, with its numbers
    (a text too long says which field, how long and the limit); the service's own message only for
    a code the catalogue does not know yet."""
    if isinstance(exc, IntakeError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, cs.TextTooLongError):
        what = _FIELD_KEYS.get(exc.what)
        return translate(
            "console.error.too_long",
            lang,
            field=translate(what, lang) if what else exc.what,
            length=f"{exc.length:,}",
            limit=f"{exc.limit:,}",
        )
    key = f"console.error.{exc.code}"
    return translate(key, lang) if has(key) else exc.message


# --- the case list ---------------------------------------------------------------------------------


@router.get("/console/cases")
async def case_list(request: Request, who: CaseStaff) -> Response:
    lang = page_lang(request)
    q = request.query_params
    status = {"open": CaseStatus.OPEN, "closed": CaseStatus.CLOSED, "all": None}.get(q.get("status", "open"))
    status_name = q.get("status", "open") if q.get("status", "open") in ("open", "closed", "all") else "open"
    overdue = q.get("overdue") == "1"
    jurisdiction = q.get("j") or None
    text = (q.get("q") or "")[:40] or None
    jurisdictions = [(j.code, j.name.get(lang)) for j in load_kb().jurisdictions.values()]
    if jurisdiction not in {c for c, _ in jurisdictions}:
        jurisdiction = None

    def read(s: Session) -> list[dict[str, Any]]:
        ids, closed = _visible(s, who)
        rows = cs.case_rows(
            s,
            case_ids=ids,
            exclude=closed,
            status=status,
            overdue_only=overdue,
            jurisdiction=jurisdiction,
            text=text,
        )
        portal = casework.portal_case_ids(s, [r.case.id for r in rows])
        return [
            {
                "reference": r.case.reference,
                "alias": r.case.alias,
                "jurisdiction": r.case.jurisdiction,
                "status": r.case.status,
                "zone": r.case.timezone,
                "created_at": r.case.created_at,
                "next_kind": r.next_clock.kind if r.next_clock else None,
                "next_due": r.next_clock.due_at if r.next_clock else None,
                "overdue": r.overdue,
                "running": r.running,
                "portal": r.case.id in portal,
            }
            for r in rows
        ]

    rows = await _db(request, read)
    return render(
        request,
        "case_list.html",
        staff=who,
        lang=lang,
        title_key="console.cases.title",
        rows=rows,
        filters={"status": status_name, "overdue": overdue, "j": jurisdiction or "", "q": text or ""},
        jurisdictions=jurisdictions,
        clock_name=_clock_name(lang),
        notice=_notice(lang, q.get("notice")),
    )


def _clock_name(lang: str) -> Callable[[str], str]:
    kb = load_kb()

    def name(kind: str) -> str:
        found = kb.clock(kind)
        return found[1].label.get(lang) if found else kind

    return name


_NOTICES = {
    "created",
    "linked",
    "consent_granted",
    "consent_withdrawn",
    "status_closed",
    "status_open",
    "referral_added",
    "referral_updated",
    "takedown_added",
    "takedown_updated",
    "unshared",
}


def _notice(lang: str, name: str | None) -> str | None:
    return translate(f"console.notice.{name}", lang) if name in _NOTICES else None


def _back(ref: str, lang: str, tab: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/console/cases/{ref}?tab={tab}&notice={notice}&lang={lang}", status_code=303)


# --- intake and linking ----------------------------------------------------------------------------


def _intake_page(
    request: Request,
    who: Staff,
    lang: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: Form | None = None,
    field: str | None = None,
) -> Response:
    kb = load_kb()
    return render(
        request,
        "case_new.html",
        staff=who,
        lang=lang,
        title_key="console.new.title",
        status=status,
        error=error,
        jurisdictions=[(j.code, j.name.get(lang), j.timezone) for j in kb.jurisdictions.values()],
        ages=[a.value for a in VictimAge],
        settings=[x.value for x in Setting],
        purposes=[p.value for p in INTAKE_PURPOSES],
        values=form.first if form is not None else {},
        chosen=set(form.all("consent")) if form is not None else set(),
        field=field,
    )


@router.get("/console/cases/new")
async def intake_form(request: Request, who: CaseStaff) -> Response:
    return _intake_page(request, who, page_lang(request))


@router.post("/console/cases/new")
async def intake(request: Request, posted: CaseForm) -> Response:
    who, form = posted
    lang = _lang(request, form)
    try:
        got = parse_intake(
            jurisdiction=form.get("jurisdiction"),
            victim_age=form.get("victim_age"),
            setting=form.get("setting"),
            incident_date=form.get("incident_date"),
            timezone=form.get("timezone"),
            alias=form.get("alias"),
            consents=form.all("consent"),
        )
    except IntakeError as exc:
        return _intake_page(
            request, who, lang, status=400, error=_field_problem(exc, lang), form=form, field=exc.field
        )

    def work(s: Session) -> str:
        case = open_case(s, intake=got, actor=who.actor)
        staff_service.assign(s, handle=who.handle, actor=who.actor, case_reference=case.reference)
        return case.reference

    ref = await _db(request, work)
    return _back(ref, lang, "overview", "created")


def _field_problem(exc: IntakeError, lang: str) -> str:
    label = translate(f"console.new.{exc.field}", lang) if has(f"console.new.{exc.field}") else exc.field
    return translate("console.error.field", lang, field=label, problem=problem_text(exc, lang))


def _link_page(
    request: Request, who: Staff, lang: str, *, status: int = 200, error: str | None = None, typed: str = ""
) -> Response:
    return render(
        request,
        "case_link.html",
        staff=who,
        lang=lang,
        title_key="console.link.title",
        status=status,
        error=error,
        typed=typed,
    )


@router.get("/console/cases/link")
async def link_form(request: Request, who: CaseStaff) -> Response:
    return _link_page(request, who, page_lang(request))


@router.post("/console/cases/link")
async def link(request: Request, posted: CaseForm) -> Response:
    """A portal case she shares, by the number she gave: linked to this staff member (assigned)."""
    who, form = posted
    lang = _lang(request, form)
    typed = form.get("reference")[:40]

    def work(s: Session) -> str | TakebackError | None:
        if not throttles.use(s, f"console-link:{who.id}", limit=LINK_TRIES, window=LINK_WINDOW, now=utcnow()):
            return None
        try:
            case = casework.link_shared(s, reference=typed, actor=who.actor)
        except TakebackError as exc:
            return exc
        staff_service.assign(s, handle=who.handle, actor=who.actor, case_reference=case.reference)
        return case.reference

    got = await _db(request, work)
    if got is None:
        return _link_page(
            request, who, lang, status=429, error=translate("console.link.too_many", lang), typed=typed
        )
    if isinstance(got, TakebackError):
        return _link_page(request, who, lang, status=400, error=problem_text(got, lang), typed=typed)
    return _back(got, lang, "overview", "linked")


# --- the case page ---------------------------------------------------------------------------------


def _purpose_rows(s: Session, case: Case, portal: bool) -> list[dict[str, Any]]:
    history = cs.consents(s, case=case)
    rows = []
    for p in STAFF_PURPOSES:
        if p is Purpose.CASEWORKER_SHARING and not portal:
            continue
        mine = [c for c in history if c.purpose == p.value]
        live = next((c for c in reversed(mine) if c.withdrawn_at is None), None)
        last = mine[-1] if mine else None
        rows.append(
            {
                "purpose": p.value,
                "given": live is not None,
                "granted_at": live.granted_at if live else None,
                "recorded_by": live.recorded_by if live else None,
                "withdrawn_at": None if live or last is None else last.withdrawn_at,
                "withdrawn_by": None if live or last is None else last.withdrawn_by,
                "staff_may_grant": p is not Purpose.CASEWORKER_SHARING,
            }
        )
    return rows


def _facts_of(request: Request) -> list[str]:
    chosen = [f for f in request.query_params.getlist("facts") if f in {x.value for x in FACTS}]
    return chosen or list(DEFAULT_FACTS)


AUDIT_PAGE = 200


def _audit_cursor(value: str | None) -> tuple[datetime, int] | None:
    """``before=<ISO time>~<id>`` from the audit view's "older" link; anything else: the newest page."""
    if not value or len(value) > 80 or "~" not in value:
        return None
    at_text, _, id_text = value.rpartition("~")
    if not id_text.isdigit():
        return None
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), int(id_text)


def _read_audit(s: Session, case: Case, query: dict[str, str]) -> dict[str, Any]:
    """One page of the case's audit view (newest first), optionally one person's, and the link on."""
    actors = ev.case_audit_actors(s, case=case)
    who_filter = query.get("actor") if query.get("actor") in actors else None
    before = _audit_cursor(query.get("before"))
    rows = ev.case_audit(s, case=case, limit=AUDIT_PAGE + 1, before=before, actor=who_filter)
    older = None
    if len(rows) > AUDIT_PAGE:
        rows = rows[:AUDIT_PAGE]
        last = rows[-1]
        older = f"{as_utc(last.at).isoformat()}~{last.id}"
    return {
        "audit": rows,
        "audit_actors": actors,
        "audit_actor": who_filter,
        "audit_older": older,
        "audit_paged": before is not None,
    }


def _read_case(
    s: Session,
    who: Staff,
    case: Case,
    tab: str,
    lang: str,
    facts: list[str],
    audit_query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the case page's tab shows, read in one transaction, and the view audited."""
    portal = casework.is_portal_case(s, case=case)
    ctx: dict[str, Any] = {
        "case": {
            "reference": case.reference,
            "alias": case.alias,
            "jurisdiction": case.jurisdiction,
            "victim_age": case.victim_age,
            "setting": case.setting,
            "timezone": case.timezone,
            "incident_date": case.incident_date,
            "status": case.status,
            "created_at": case.created_at,
            "created_by": case.created_by,
            "portal": portal,
            "under_18": case.age.under_18,
        },
        "clocks": [
            {
                "kind": st.clock.kind,
                "subject": st.clock.subject,
                "due_at": st.clock.due_at,
                "status": st.clock.status,
                "overdue": st.overdue,
                "confidence": st.clock.confidence,
            }
            for st in cs.case_clocks(s, case=case)
        ],
    }
    if tab == "overview":
        ctx["purposes"] = _purpose_rows(s, case, portal)
        ctx["contact"] = casework.contact_detail(s, case=case) if portal else None
    elif tab == "evidence":
        ctx["events"] = casework.evidence_timeline(s, case=case)
        v = ev.verify_case(s, case=case)
        ctx["custody"] = {"ok": v.ok, "entries": v.custody.count, "failure": v.failure}
    elif tab == "referrals":
        try:
            ctx["suggested"] = cs.suggested_referrals(s, case=case, facts=facts, lang=lang)
        except TakebackError as exc:
            ctx["suggested"], ctx["suggest_error"] = [], problem_text(exc, lang)
        ctx["referrals"] = cs.referrals(s, case=case)
        ctx["facts"] = facts
    elif tab == "takedowns":
        ctx["takedowns"] = cs.takedown_rows(s, case=case)
    elif tab == "audit":
        ctx.update(_read_audit(s, case, audit_query or {}))
    ev.record_view(s, case=case, actor=who.actor, what=tab)
    return ctx  # rows stay readable after the commit (the store does not expire them)


async def _case_page(
    request: Request,
    who: Staff,
    reference: str,
    lang: str,
    tab: str,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    **extra: Any,
) -> Response:
    tab = tab if tab in TABS else "overview"
    facts = _facts_of(request)
    extra.setdefault("form", {})
    extra.setdefault("draft", None)

    def read(s: Session) -> dict[str, Any] | Refused:
        case = _open_case(s, who, reference)
        if isinstance(case, Refused):
            return case
        return _read_case(s, who, case, tab, lang, facts, audit_query)

    audit_query = {k: request.query_params.get(k, "") for k in ("actor", "before")}
    got = await _db(request, read)
    if isinstance(got, Refused):
        return _refused(request, who, lang, got)
    kb = load_kb()
    return render(
        request,
        "case_page.html",
        staff=who,
        lang=lang,
        title_key="console.case.title",
        status=status,
        error=error,
        notice=notice,
        zone=got["case"]["timezone"],
        tab=tab,
        tabs=TABS,
        clock_name=_clock_name(lang),
        channel_name=lambda cid: ch.name.get(lang) if (ch := kb.channel(cid)) is not None else cid,
        referral_statuses=[x.value for x in ReferralStatus],
        takedown_statuses=[x.value for x in TakedownStatus if x is not TakedownStatus.SENT],
        notice_kinds=[k.value for k in NoticeKind],
        all_facts=[f.value for f in FACTS],
        hours=_hours,
        details_text=_details_text,
        action_text=lambda a: text_for(f"console.audit.action.{a}", lang, a),
        object_text=lambda o: text_for(f"console.audit.object.{o}", lang, o),
        **got,
        **extra,
    )


def _details_text(details: dict[str, Any] | None) -> str:
    """An audit row's details as a person reads them: ``key: value`` pairs, nested values as JSON."""
    if not details:
        return ""
    parts = []
    for key in sorted(details):
        value = details[key]
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}: {shown}")
    return " · ".join(parts)


def _hours(value: float | None, lang: str) -> str:
    return "" if value is None else translate("console.hours", lang, n=f"{value:g}")


@router.get("/console/cases/{reference}")
async def case_page(request: Request, reference: str, who: CaseStaff) -> Response:
    lang = page_lang(request)
    tab = request.query_params.get("tab", "overview")
    return await _case_page(
        request, who, reference, lang, tab, notice=_notice(lang, request.query_params.get("notice"))
    )


CaseAct = Callable[[Session, Case, Form], str | None]


async def _act(
    request: Request, posted: tuple[Staff, Form], reference: str, tab: str, act: CaseAct
) -> Response:
    """A form on the case page: access first, then ``act`` (returns the notice to show); a domain
    error is shown on the page (400, nothing changed), success goes back to the tab (303)."""
    who, form = posted
    lang = _lang(request, form)

    def work(s: Session) -> str | Refused | TakebackError:
        case = _open_case(s, who, reference)
        if isinstance(case, Refused):
            return case
        try:
            with s.begin_nested():
                return act(s, case, form) or "saved"
        except TakebackError as exc:
            return exc

    got = await _db(request, work)
    if isinstance(got, Refused):
        return _refused(request, who, lang, got)
    if isinstance(got, TakebackError):
        return await _case_page(
            request, who, reference, lang, tab, status=400, error=problem_text(got, lang), form=form.first
        )
    if got == "unshared":  # she no longer shares it: this staff member has just lost it
        return RedirectResponse(f"/console/cases?notice=unshared&lang={lang}", status_code=303)
    return _back(reference.strip().upper(), lang, tab, got)


def _purpose(form: Form) -> Purpose:
    try:
        p = Purpose(form.get("purpose"))
    except ValueError:
        raise cs.CaseError("Unknown purpose.", code="unknown_purpose") from None
    if p not in STAFF_PURPOSES:
        raise cs.CaseError("Unknown purpose.", code="unknown_purpose")
    return p


@router.post("/console/cases/{reference}/consent")
async def consent(request: Request, reference: str, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        purpose = _purpose(form)
        if form.get("action") == "grant":
            if purpose is Purpose.CASEWORKER_SHARING:  # hers to give, on the portal
                raise cs.CaseError("Only she can share her case.", code="sharing_is_hers")
            cs.grant_consent(s, case=case, purpose=purpose, actor=who.actor)
            return "consent_granted"
        if purpose is Purpose.FACE_ENROLMENT:  # her face templates go with the consent
            faces.withdraw_consent(s, case=case, actor=who.actor)
        else:
            cs.withdraw_consent(s, case=case, purpose=purpose, actor=who.actor)
        return "unshared" if purpose is Purpose.CASEWORKER_SHARING else "consent_withdrawn"

    return await _act(request, posted, reference, "overview", act)


@router.post("/console/cases/{reference}/status")
async def case_status(request: Request, reference: str, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        closed = form.get("status") == "closed"
        cs.set_case_status(
            s, case=case, status=CaseStatus.CLOSED if closed else CaseStatus.OPEN, actor=who.actor
        )
        return "status_closed" if closed else "status_open"

    return await _act(request, posted, reference, "overview", act)


def _local_time(form: Form, name: str, case: Case, what: str) -> datetime | None:
    text = form.get(name).strip()
    if not text:
        return None
    return parse_when(text.replace("T", " "), zone=case.timezone, what=what)


@router.post("/console/cases/{reference}/referrals")
async def add_referral(request: Request, reference: str, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        status = form.get("status") or None
        cs.add_referral(
            s,
            case=case,
            channel=form.get("channel"),
            actor=who.actor,
            status=ReferralStatus(status) if status in {x.value for x in ReferralStatus} else None,
            sent_at=_local_time(form, "sent_at", case, "sending time"),
            reference_number=form.get("reference_number") or None,
            note=form.get("note") or None,
        )
        return "referral_added"

    return await _act(request, posted, reference, "referrals", act)


@router.post("/console/cases/{reference}/referrals/{referral_id}")
async def update_referral(request: Request, reference: str, referral_id: int, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        status = form.get("status")
        cs.update_referral(
            s,
            case=case,
            referral_id=referral_id,
            actor=who.actor,
            status=ReferralStatus(status) if status in {x.value for x in ReferralStatus} else None,
            reference_number=form.get("reference_number") if "reference_number" in form.first else None,
        )
        return "referral_updated"

    return await _act(request, posted, reference, "referrals", act)


@router.post("/console/cases/{reference}/takedowns")
async def add_takedown(request: Request, reference: str, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        under = form.get("under") or None
        cs.add_takedown(
            s,
            case=case,
            url=form.get("url"),
            actor=who.actor,
            platform=form.get("platform") or None,
            sent_at=_local_time(form, "sent_at", case, "sending time"),
            via=form.get("via") or "platform",
            under=under if under in ("take-it-down", "none") else None,
            reference_number=form.get("reference_number") or None,
            note=form.get("note") or None,
        )
        return "takedown_added"

    return await _act(request, posted, reference, "takedowns", act)


@router.post("/console/cases/{reference}/takedowns/{takedown_id}")
async def update_takedown(request: Request, reference: str, takedown_id: int, posted: CaseForm) -> Response:
    who = posted[0]

    def act(s: Session, case: Case, form: Form) -> str:
        try:
            status = TakedownStatus(form.get("status"))
        except ValueError:
            raise cs.CaseError("Choose the new status.", code="bad_status") from None
        cs.update_takedown(
            s,
            case=case,
            takedown_id=takedown_id,
            status=status,
            actor=who.actor,
            at=_local_time(form, "at", case, "status time"),
            reference_number=form.get("reference_number") or None,
        )
        return "takedown_updated"

    return await _act(request, posted, reference, "takedowns", act)


# --- notices, bundles, receipts, her encrypted files ------------------------------------------------


@router.post("/console/cases/{reference}/notice")
async def draft_notice(request: Request, reference: str, posted: CaseForm) -> Response:
    """Draft a notice: shown on the page (the notice and the cover note apart), or as a PDF
    (``format=pdf``, ``part=notice|cover``) with its fonts embedded."""
    who, form = posted
    lang = _lang(request, form)
    try:
        kind = NoticeKind(form.get("kind"))
    except ValueError:
        kind = NoticeKind.HK_PCPD
    doc_lang = form.get("doc_lang") if form.get("doc_lang") in ("en", "zh-Hant") else lang
    urls = [u for u in form.get("urls").splitlines() if u.strip()]

    def work(s: Session) -> ev.NoticeDraft | Refused | TakebackError:
        case = _open_case(s, who, reference)
        if isinstance(case, Refused):
            return case
        try:
            with s.begin_nested():
                return ev.draft_notice(
                    s,
                    case=case,
                    kind=kind,
                    actor=who.actor,
                    lang=doc_lang,
                    surface="console",
                    urls=urls or None,
                    name=form.get("name") or None,
                    contact=form.get("contact") or None,
                    signature=form.get("signature") or None,
                    platform=form.get("platform") or None,
                    relevant_info=form.get("info") or None,
                    on_behalf_of=form.get("on_behalf_of") or None,
                )
        except TakebackError as exc:
            return exc

    got = await _db(request, work)
    if isinstance(got, Refused):
        return _refused(request, who, lang, got)
    if isinstance(got, TakebackError):
        return await _case_page(
            request,
            who,
            reference,
            lang,
            "notices",
            status=400,
            error=problem_text(got, lang),
            form=form.first,
        )
    ref = reference.strip().upper()
    if form.get("format") == "pdf":
        part = got.cover if form.get("part") == "cover" or got.notice is None else got.notice
        data = await anyio.to_thread.run_sync(pdf_bytes, part)
        name = f"{ref}-{kind.value}{'-cover-note' if part is got.cover else ''}-{doc_lang}.pdf"
        return Response(
            data,
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"},
        )
    missing = [translate(f"console.notice.missing.{m}", lang) for m in got.missing]
    return await _case_page(
        request,
        who,
        reference,
        lang,
        "notices",
        status=200,
        form=form.first,
        draft={
            "kind": kind.value,
            "lang": doc_lang,
            # the reports' own HTML renderer escapes every text: safe to place in the page as it is
            "notice": Markup(render_fragment(got.notice, top=4)) if got.notice is not None else None,  # noqa: S704
            "cover": Markup(render_fragment(got.cover, top=4)),  # noqa: S704
            "missing": missing,
        },
    )


@router.post("/console/cases/{reference}/bundle")
async def bundle(request: Request, reference: str, posted: CaseForm) -> Response:
    """A signed evidence bundle (fingerprints and context, never the originals: those leave only by
    ``takeback evidence bundle --with-originals``, with the locker passphrase), as a download that
    ``takeback evidence verify`` accepts."""
    who, form = posted
    lang = _lang(request, form)
    doc_lang = form.get("doc_lang") if form.get("doc_lang") in ("en", "zh-Hant") else lang
    ref = reference.strip().upper()
    refused = await _db(request, lambda s: r if isinstance(r := _open_case(s, who, ref), Refused) else None)
    if refused is not None:
        return _refused(request, who, lang, refused)
    state = state_of(request)
    signer = Signer.load_or_create(state.settings.ensure_data_dir())

    def make() -> bytes | TakebackError:
        with tempfile.TemporaryDirectory(prefix="takeback-bundle-") as tmp:
            out = Path(tmp) / "bundle.zip"
            try:
                casework.export_case_bundle(
                    state.db, reference=ref, out=out, signer=signer, actor=who.actor, lang=doc_lang
                )
            except TakebackError as exc:
                return exc
            return out.read_bytes()

    got = await anyio.to_thread.run_sync(make)
    if isinstance(got, TakebackError):
        if got.code in ("case_deleted", "case_deleted_during_export"):
            return _refused(request, who, lang, Refused(410, "console.case.case_deleted"))
        return await _case_page(request, who, ref, lang, "bundle", status=400, error=problem_text(got, lang))
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return Response(
        got,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="takeback-bundle-{ref}-{stamp}.zip"',
            "cache-control": "no-store",
        },
    )


@router.post("/console/cases/{reference}/receipt")
async def receipt(request: Request, reference: str, posted: CaseForm) -> Response:
    who, form = posted
    lang = _lang(request, form)
    item = form.get("id")
    signer = Signer.load_or_create(state_of(request).settings.ensure_data_dir())

    def work(s: Session) -> dict[str, Any] | Refused | TakebackError:
        case = _open_case(s, who, reference)
        if isinstance(case, Refused):
            return case
        try:
            r = casework.receipt_for(
                s,
                case=case,
                signer=signer,
                kind=form.get("kind"),
                item_id=int(item) if item.isdigit() and len(item) < 12 else -1,
                actor=who.actor,
            )
        except TakebackError as exc:
            return exc
        return r.to_json()

    got = await _db(request, work)
    if isinstance(got, Refused):
        return _refused(request, who, lang, got)
    if isinstance(got, TakebackError):
        return await _case_page(
            request, who, reference, lang, "evidence", status=400, error=problem_text(got, lang)
        )
    name = f"takeback-receipt-{got['case']}-{got['sha256'][:12]}.json"
    return Response(
        json.dumps(got, indent=2) + "\n",
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"},
    )


@router.get("/console/cases/{reference}/sealed/{sealed_id}")
async def sealed(request: Request, reference: str, sealed_id: int, who: CaseStaff) -> Response:
    """Her encrypted file as ciphertext, for this browser to decrypt with the passphrase she gives
    (typed into the page, never sent); the read is audited."""

    def work(s: Session) -> bytes | Refused | None:
        case = _open_case(s, who, reference)
        if isinstance(case, Refused):
            return case
        try:
            return bytes(
                casework.sealed_for_staff(s, case=case, sealed_id=sealed_id, actor=who.actor).ciphertext
            )
        except TakebackError:
            return None

    got = await _db(request, work)
    if isinstance(got, Refused):
        raise StaffDenied(got.status, got.key)
    if got is None:
        raise StaffDenied(404, "console.case.no_such_file")
    return Response(got, media_type="application/octet-stream", headers={"cache-control": "no-store"})
