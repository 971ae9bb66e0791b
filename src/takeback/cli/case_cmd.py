"""``takeback case``: pseudonymous cases, consent, referrals, deadline clocks, takedowns and notices.

Also home of the helpers the victim-support commands share (database, signing key, locker
passphrase, who is acting), so ``takeback evidence`` and ``takeback case`` behave the same.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from takeback.cases import service as cs
from takeback.cases.models import (
    Case,
    CaseStatus,
    Purpose,
    Referral,
    ReferralStatus,
    Takedown,
    TakedownStatus,
)
from takeback.cases.notices import NoticeKind
from takeback.cli import paths
from takeback.cli.app import app, fail, usage_error
from takeback.cli.output import shown, terminal_text
from takeback.clock import (
    as_utc,
    format_local,
    iso_utc,
    local_zone_name,
    parse_duration,
    parse_when,
)
from takeback.config import ACTOR_SELF, acting, get_settings
from takeback.errors import TakebackError
from takeback.evidence.locker import Locker
from takeback.evidence.signing import Signer
from takeback.guidance.kb import load_kb
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import Document, render_html, render_pdf
from takeback.reports.text import render_text
from takeback.store import Database, database_url, open_database

T = TypeVar("T")
out = Console(soft_wrap=True, highlight=False)
case_app = typer.Typer(
    no_args_is_help=True, help="Pseudonymous cases: consent, referrals, deadlines, takedowns, notices."
)
app.add_typer(case_app, name="case")
# `takeback case verify DIR` (a scan case folder, told apart by its case.db) is registered on this group
# by cli/scan_cmd.py, beside the triage commands it belongs to.

PASSPHRASE_ENV = "TAKEBACK_LOCKER_PASSPHRASE"  # noqa: S105  (the name of a variable, not a secret)

CaseOpt = Annotated[
    str, typer.Option("--case", "-c", help="Case reference, e.g. TB-7F3K-9QX2.", show_default=False)
]
ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help=(
            "Who is acting, as recorded in the custody log, the audit log and bundles: a role or a "
            f"pseudonym, e.g. caseworker-3. Default: TAKEBACK_ACTOR, else '{ACTOR_SELF}' (the person the "
            "case is about). Never your account name unless you give it."
        ),
        show_default=False,
    ),
]


class Lang(StrEnum):
    EN = "en"
    ZH_HANT = "zh-Hant"


# --- shared helpers ----------------------------------------------------------------------------------


def actor(by: str | None) -> str:
    """Victim-support commands record ``self`` unless told otherwise (``--by``, ``TAKEBACK_ACTOR``):
    the OS account is often the person's real name."""
    return acting(by, default=ACTOR_SELF)


def open_db() -> Database:
    return open_database(database_url(get_settings()))


def run_db(work: Callable[[Session], T]) -> T:
    """One transaction; expected errors are printed for a person and exit non-zero."""
    db = open_db()
    try:
        return db.run(work)
    except TakebackError as exc:
        fail(exc)
    finally:
        db.dispose()


@contextmanager
def database() -> Iterator[Database]:
    db = open_db()
    try:
        yield db
    finally:
        db.dispose()


def signer() -> Signer:
    return Signer.load_or_create(get_settings().ensure_data_dir())


def locker_root() -> Path:
    return get_settings().data_dir / "locker"


def passphrase(creating: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        usage_error(f"The evidence locker needs its passphrase: set {PASSPHRASE_ENV} or run in a terminal.")
    if creating:
        out.print("Creating the evidence locker. Choose a passphrase: it cannot be recovered if lost.")
        return str(typer.prompt("Locker passphrase", hide_input=True, confirmation_prompt=True))
    return str(typer.prompt("Locker passphrase", hide_input=True))


def open_locker(*, create: bool) -> Locker:
    root = locker_root()
    from takeback.evidence.locker import has_locker

    try:
        if has_locker(root):
            return Locker.open(root, passphrase(False))
        if not create:
            return Locker.open(root, "")  # raises the clear "missing" / "copied without key" error
        return Locker.create(root, passphrase(True))
    except TakebackError as exc:
        fail(exc)


def when(text: str | None, zone: str, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, zone=zone, what=what)
    except TakebackError as exc:
        usage_error(exc.message)


def local(dt: datetime | None, zone: str) -> str:
    return "" if dt is None else format_local(as_utc(dt), zone)


def utc(dt: datetime | None) -> str | None:
    return None if dt is None else iso_utc(as_utc(dt))


def response_text(t: Takedown) -> str:
    """How a removal request stands, in words ("first response after 3.5 h", "no response yet")."""
    times = cs.response_times(t)
    first, done = times["first_response_hours"], times["resolution_hours"]
    parts = [f"first response after {first} h" if first is not None else "no response yet"]
    if done is not None:
        parts.append(f"{t.status} after {done} h")
    elif t.status not in (TakedownStatus.SENT.value, TakedownStatus.ACKNOWLEDGED.value):
        parts.append(t.status)
    return ", ".join(parts)


def channel_text(channel: str) -> str:
    """A referral's channel as a person reads it: the name, with the id people can type."""
    ch = load_kb().channel(channel)
    return f"{ch.name.en} [{ch.id}]" if ch is not None else channel


def status_text(status: str, sent: str | None) -> str:
    """ "sent 2026-03-02 10:00 HKT (UTC+08:00)", "removed, sent ...", "draft": never "sent, sent"."""
    if not sent:
        return status
    return f"sent {sent}" if status == "sent" else f"{status}, sent {sent}"


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


# --- commands ----------------------------------------------------------------------------------------


@case_app.command("new")
def case_new(
    jurisdiction: Annotated[
        str, typer.Option("--jurisdiction", "-j", help="HK, UK, SG, KR, AU, US or EU.", show_default=False)
    ],
    victim_age: Annotated[
        VictimAge, typer.Option("--victim-age", help="adult, minor or was-minor.")
    ] = VictimAge.ADULT,
    setting: Annotated[
        Setting | None, typer.Option("--setting", help="university, school, work, online, other.")
    ] = None,
    incident_date: Annotated[
        str | None, typer.Option("--incident-date", help="When it happened (YYYY-MM-DD).", show_default=False)
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz", help="Time zone for this case's clocks (default: the jurisdiction's).", show_default=False
        ),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="A pseudonym for the case (never a real name).", show_default=False),
    ] = None,
    consent: Annotated[
        str | None,
        typer.Option(
            "--consent",
            help=(
                "Consent given at intake: hashing, referral, "
                "police-sharing, face-enrolment (comma-separated)."
            ),
            show_default=False,
        ),
    ] = None,
    by: ByOpt = None,
) -> None:
    """Open a pseudonymous case (no name or contact details are stored)."""
    from takeback.cases.intake import open_case, parse_intake

    kb = load_kb()
    try:
        form = parse_intake(
            jurisdiction=jurisdiction,
            victim_age=victim_age.value,
            setting=setting.value if setting else None,
            incident_date=incident_date,
            timezone=tz,
            alias=alias,
            consents=[consent or ""],
            kb=kb,
        )
    except TakebackError as exc:
        usage_error(exc.message)
    j = kb.get(form.jurisdiction)
    zone = form.timezone

    def work(s: Session) -> tuple[str, list[str]]:
        c = open_case(s, intake=form, actor=actor(by), kb=kb)
        clocks = [f"{r.clock.kind}: due {local(r.clock.due_at, zone)}" for r in cs.deadlines(s, case=c)]
        return c.reference, clocks

    ref, clocks = run_db(work)
    out.print(f"Case [bold]{ref}[/] opened ({j.name.en}).")
    for c in clocks:
        out.print(f"  clock {shown(c)}")
    if victim_age.under_18:
        out.print(
            "[bold red]Under 18:[/] takeback will store no images "
            "for this case (fingerprints and links only). "
            f"See: takeback guide -j {j.code} --victim-age {victim_age.value} --facts ..."
        )


@case_app.command("list")
def case_list(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only cases with a clock past its due time.")
    ] = False,
    jurisdiction: Annotated[
        str | None,
        typer.Option("--jurisdiction", "-j", help="Only this jurisdiction's cases.", show_default=False),
    ] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Closed cases instead of open ones.")] = False,
    search: Annotated[
        str | None, typer.Option("--search", help="Part of a case number or alias.", show_default=False)
    ] = None,
) -> None:
    """Cases with their next deadline, overdue first (times in each case's own time zone)."""
    status = CaseStatus.CLOSED if closed else CaseStatus.OPEN

    def work(s: Session) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for r in cs.case_rows(s, status=status, overdue_only=overdue, jurisdiction=jurisdiction, text=search):
            c = r.case
            nxt = ""
            if r.next_clock is not None:
                state = "OVERDUE" if r.next_overdue else "due"
                nxt = f"{r.next_clock.kind} {state} {local(r.next_clock.due_at, c.timezone)}"
            rows.append(
                (
                    c.reference,
                    c.jurisdiction,
                    c.victim_age,
                    c.alias or "",
                    "opened " + local(c.created_at, c.timezone),
                    nxt,
                )
            )
        return rows

    rows = run_db(work)
    if not rows:
        if overdue or jurisdiction or closed or search:
            out.print("No cases match.")
            return
        out.print(
            "No cases yet. Open one with: takeback case new -j HK "
            "[--victim-age adult|minor|was-minor] [--setting university] [--consent hashing,referral]"
        )
        return
    for r in rows:
        out.print("  ".join(shown(x) for x in r if x))


def _case_view(s: Session, c: Case) -> dict[str, Any]:
    """The case for `case show`: every time in the case's own zone, labelled; each also in UTC (`*_utc`)."""
    from takeback.evidence.service import list_items, verify_case

    z = c.timezone
    v = verify_case(s, case=c)
    return {
        "reference": c.reference,
        "alias": c.alias,
        "jurisdiction": c.jurisdiction,
        "victim_age": c.victim_age,
        "setting": c.setting,
        "timezone": z,
        "incident_date": c.incident_date.isoformat() if c.incident_date else None,
        "created": local(c.created_at, z),
        "created_utc": utc(c.created_at),
        "consent": [
            {
                "purpose": x.purpose,
                "granted": local(x.granted_at, z),
                "granted_utc": utc(x.granted_at),
                "withdrawn": local(x.withdrawn_at, z) or None,
                "withdrawn_utc": utc(x.withdrawn_at),
            }
            for x in cs.consents(s, case=c)
        ],
        "evidence_items": len(list_items(s, case=c)),
        "custody": {"entries": v.custody.count, "verified": v.ok, "problem": v.failure},
        "referrals": [_referral_view(r, z) for r in cs.referrals(s, case=c)],
        "takedowns": [_takedown_view(t, z) for t in cs.takedowns(s, case=c)],
        "deadlines": [_deadline_view(r) for r in cs.deadlines(s, case=c, include_stopped=True)],
    }


def _referral_view(r: Referral, z: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "to": r.channel,
        "to_name": channel_text(r.channel),
        "status": r.status,
        "sent": local(r.sent_at, z) or None,
        "sent_utc": utc(r.sent_at),
        "reference_number": r.reference_number,
    }


def _takedown_view(t: Takedown, z: str) -> dict[str, Any]:
    return {
        "id": t.id,
        "url": t.url,
        "platform": t.platform,
        "via": t.via,
        "status": t.status,
        "sent": local(t.sent_at, z),
        "sent_utc": utc(t.sent_at),
        "first_response": local(t.first_response_at, z) or None,
        "first_response_utc": utc(t.first_response_at),
        "resolved": local(t.resolved_at, z) or None,
        "resolved_utc": utc(t.resolved_at),
        **cs.response_times(t),
        "response": response_text(t),
        "reference_number": t.reference_number,
    }


def _takedown_line(t: Takedown, z: str) -> str:
    where = f"{t.url} ({t.platform})" if t.platform else t.url
    return f"#{t.id} {where}: {status_text(t.status, local(t.sent_at, z))}, {response_text(t)}"


def _deadline_view(r: cs.DeadlineRow) -> dict[str, Any]:
    z = r.case.timezone  # one zone per case, whatever zone the clock was started in
    hours = r.remaining.total_seconds() / 3600
    running = r.clock.status == "running"
    return {
        "case": r.case.reference,
        "id": r.clock.id,
        "kind": r.clock.kind,
        "subject": r.clock.subject,
        "status": "overdue" if r.overdue else r.clock.status,
        "started": local(r.clock.started_at, z),
        "started_utc": utc(r.clock.started_at),
        "due": local(r.clock.due_at, z),
        "due_utc": utc(r.clock.due_at),
        "hours_left": round(hours, 1) if running else None,
        "confidence": r.clock.confidence,
    }


def _deadline_state(d: dict[str, Any]) -> str:
    if d["status"] == "overdue":
        return "[bold red]OVERDUE[/]"
    if d["hours_left"] is not None:
        return f"{d['hours_left']} h left"
    return shown(str(d["status"]))


@case_app.command("show")
def case_show(
    case: CaseOpt,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (times also in UTC, as *_utc).")
    ] = False,
) -> None:
    """Everything about a case: consent, evidence count and custody check, referrals, takedowns, deadlines.

    Every time is shown in the case's time zone (the jurisdiction's unless --tz was given at intake)."""
    view = run_db(lambda s: _case_view(s, cs.get_case(s, reference=case)))
    if as_json:
        emit_json(view)
        return
    out.print(
        f"[bold]{view['reference']}[/]  {view['jurisdiction']}  {view['victim_age']}  "
        f"{view['setting'] or ''}  {shown(view['alias'] or '')}"
    )
    out.print(
        f"  times in {view['timezone']}  incident {view['incident_date'] or '-'}  created {view['created']}"
    )
    cust = view["custody"]
    status = "[green]verified[/]" if cust["verified"] else f"[red]FAILED[/] {shown(str(cust['problem']))}"
    out.print(f"  evidence items {view['evidence_items']}  custody entries {cust['entries']} {status}")
    for c in view["consent"]:
        state = f"withdrawn {c['withdrawn']}" if c["withdrawn"] else "given"
        out.print(f"  consent {c['purpose']}: {state} (recorded {c['granted']})")
    for r in view["referrals"]:
        ref = f", their reference {shown(r['reference_number'])}" if r["reference_number"] else ""
        state = status_text(r["status"], r["sent"])
        out.print(f"  referral #{r['id']} to {shown(r['to_name'])}: {state}{ref}")
    for t in view["takedowns"]:
        where = f"{t['url']} ({t['platform']})" if t["platform"] else t["url"]
        state = status_text(t["status"], t["sent"])
        out.print(f"  takedown #{t['id']} {shown(where)}: {state}, {t['response']}")
    for d in view["deadlines"]:
        out.print(f"  clock #{d['id']} {d['kind']}: due {d['due']}, {_deadline_state(d)}")


@case_app.command("consent")
def case_consent(
    case: CaseOpt,
    grant: Annotated[
        str | None, typer.Option("--grant", help="Purpose to record consent for.", show_default=False)
    ] = None,
    withdraw: Annotated[
        str | None, typer.Option("--withdraw", help="Purpose whose consent is withdrawn.", show_default=False)
    ] = None,
    by: ByOpt = None,
) -> None:
    """Record or withdraw consent per purpose: hashing, referral, police-sharing, face-enrolment."""
    if (grant is None) == (withdraw is None):
        usage_error("Give exactly one of --grant PURPOSE or --withdraw PURPOSE.")
    raw = grant or withdraw or ""
    try:
        purpose = Purpose(raw.strip())
    except ValueError:
        usage_error(f"Unknown purpose {raw!r}; use hashing, referral, police-sharing or face-enrolment.")

    def work(s: Session) -> None:
        c = cs.get_case(s, reference=case)
        if grant:
            cs.grant_consent(s, case=c, purpose=purpose, actor=actor(by))
        elif purpose is Purpose.FACE_ENROLMENT:  # her face templates go with the consent
            from takeback.faces import service as faces

            faces.withdraw_consent(s, case=c, actor=actor(by))
        else:
            cs.withdraw_consent(s, case=c, purpose=purpose, actor=actor(by))

    run_db(work)
    out.print(f"Consent for {purpose.value} {'recorded' if grant else 'withdrawn'} on {case.upper()}.")
    if withdraw and purpose is Purpose.HASHING:
        out.print(
            "No new evidence can be captured for this case. Existing items stay until the case is deleted "
            "(`takeback case delete`)."
        )


@case_app.command("refer")
def case_refer(
    case: CaseOpt,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Channel id from `takeback guide` (e.g. hk-pcpd) or a name.", show_default=False
        ),
    ] = None,
    referral_id: Annotated[
        int | None,
        typer.Option("--id", help="Update this referral instead of creating one.", show_default=False),
    ] = None,
    status: Annotated[
        ReferralStatus | None,
        typer.Option(
            "--status",
            help="draft (the default for a new referral), planned, sent, acknowledged, in-progress, closed, "
            "declined.",
            show_default=False,
        ),
    ] = None,
    reference_number: Annotated[
        str | None, typer.Option("--reference", help="Their reference number.", show_default=False)
    ] = None,
    sent_at: Annotated[
        str | None,
        typer.Option(
            "--sent-at",
            help="When it was sent (marks it sent; --status sent alone means now).",
            show_default=False,
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", show_default=False)] = None,
    by: ByOpt = None,
) -> None:
    """Record a referral, as a draft until you say it was sent (needs consent to refer; police channels
    also need police-sharing consent). --to takes a channel from `takeback guide` as people type it:
    pcpd, PCPD and hk-pcpd are the same channel."""
    if (to is None) == (referral_id is None):
        usage_error("Give --to CHANNEL to record a referral, or --id N to update one.")

    def work(s: Session) -> str:
        c = cs.get_case(s, reference=case)
        at = when(sent_at, c.timezone, "sending time")
        if referral_id is not None:
            r = cs.update_referral(
                s,
                case=c,
                referral_id=referral_id,
                actor=actor(by),
                status=status,
                reference_number=reference_number,
                sent_at=at,
            )
        else:
            assert to is not None
            r = cs.add_referral(
                s,
                case=c,
                channel=to,
                actor=actor(by),
                status=status,
                sent_at=at,
                reference_number=reference_number,
                note=note,
            )
        text = f"Referral #{r.id} to {channel_text(r.channel)}: "
        text += status_text(r.status, local(r.sent_at, c.timezone) or None)
        if r.reference_number:
            text += f", their reference {r.reference_number}"
        if load_kb().channel(r.channel) is None:
            text += " (not a channel takeback knows; recorded as typed)"
        if r.status == ReferralStatus.DRAFT.value:
            text += f". When it is sent: takeback case refer --case {c.reference} --id {r.id} --status sent"
        return text

    out.print(shown(run_db(work)))


@case_app.command("deadlines")
def case_deadlines(
    case: Annotated[
        str | None, typer.Option("--case", "-c", help="One case (default: all cases).", show_default=False)
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only clocks past their due time.")] = False,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help=(
                "Start a clock: a clock from the knowledge base by id or name "
                "(us-tida-48h, take-it-down) or a name of your own with --duration."
            ),
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When the clock starts (default: now).", show_default=False)
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", help="Override or set the length: 48h, 3d, 12 months.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    by: ByOpt = None,
) -> None:
    """Deadline clocks, overdue first (TAKE IT DOWN 48 h, eSafety 24 h, Singapore 24 h, HK EOC 12 months)."""
    if start is not None and case is None:
        usage_error("--start needs --case.")
    try:
        dur = parse_duration(duration) if duration else None
    except TakebackError as exc:
        usage_error(exc.message)

    def work(s: Session) -> list[dict[str, Any]]:
        c = cs.get_case(s, reference=case) if case else None
        if start is not None:
            assert c is not None
            began = when(at, c.timezone, "clock start") or as_utc(datetime.now().astimezone())
            cs.start_clock(s, case=c, kind=start, started_at=began, duration=dur, actor=actor(by))
        rows = cs.deadlines(s, case=c, overdue_only=overdue)
        rows.sort(key=lambda r: (not r.overdue, r.clock.due_at))
        return [_deadline_view(r) for r in rows]

    rows = run_db(work)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("No running clocks." if not overdue else "Nothing is overdue.")
    for d in rows:
        unconf = " [yellow](UNCONFIRMED rule)[/]" if d["confidence"] == "unconfirmed" else ""
        out.print(
            f"{d['case']}  #{d['id']} {d['kind']} ({d['subject'] or '-'})  due {d['due']}  "
            f"{_deadline_state(d)}{unconf}"
        )


@case_app.command("takedown")
def case_takedown(
    case: CaseOpt,
    url: Annotated[
        str | None, typer.Option("--url", help="Record a removal request for this URL.", show_default=False)
    ] = None,
    platform: Annotated[str | None, typer.Option("--platform", show_default=False)] = None,
    via: Annotated[
        str, typer.Option("--via", help="platform, regulator (e.g. an eSafety notice) or ngo.")
    ] = "platform",
    under: Annotated[
        str | None,
        typer.Option(
            "--under",
            help="The law the request was made under, which decides its removal clock: take-it-down (US "
            "TAKE IT DOWN Act, 48 h) or none (the platform's own rules). Default: the case's jurisdiction's "
            "clock, if it has one (US: TAKE IT DOWN; Hong Kong: none).",
            show_default=False,
        ),
    ] = None,
    sent_at: Annotated[
        str | None, typer.Option("--sent-at", help="When it was sent (default: now).", show_default=False)
    ] = None,
    takedown_id: Annotated[
        int | None, typer.Option("--id", help="Update this request's status.", show_default=False)
    ] = None,
    status: Annotated[
        TakedownStatus | None,
        typer.Option("--status", help="acknowledged, removed, refused, no-reply.", show_default=False),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When the status changed (default: now).", show_default=False)
    ] = None,
    reference_number: Annotated[str | None, typer.Option("--reference", show_default=False)] = None,
    note: Annotated[str | None, typer.Option("--note", show_default=False)] = None,
    by: ByOpt = None,
) -> None:
    """Track removal requests per URL: record one (starts the removal clock that applies, if any),
    update it, or list them. Times are in the case's time zone."""
    if url is not None and takedown_id is not None:
        usage_error("Give --url to record a request or --id to update one, not both.")
    if takedown_id is not None and status is None:
        usage_error("--id needs --status.")

    def work(s: Session) -> list[str]:
        c = cs.get_case(s, reference=case)
        lines: list[str] = []
        if url is not None:
            t, clocks = cs.add_takedown(
                s,
                case=c,
                url=url,
                platform=platform,
                via=via,
                under=under,
                actor=actor(by),
                sent_at=when(sent_at, c.timezone, "sending time"),
                reference_number=reference_number,
                note=note,
            )
            lines.append(f"Takedown #{t.id} recorded: sent {local(t.sent_at, c.timezone)}")
            for k in clocks:
                found = load_kb().clock(k.kind)
                label = found[1].label.en if found else k.kind
                lines.append(f"  clock {k.kind} ({label}) started: due {local(k.due_at, c.timezone)}")
            if not clocks:
                plan = cs.removal_clock_plan(c, via=via, sent=as_utc(t.sent_at), under=under)
                lines.append(f"  No removal clock started: {plan.why_none}.")
        elif takedown_id is not None:
            assert status is not None
            t = cs.update_takedown(
                s,
                case=c,
                takedown_id=takedown_id,
                status=status,
                actor=actor(by),
                at=when(at, c.timezone, "status time"),
                reference_number=reference_number,
            )
            lines.append(f"Takedown {_takedown_line(t, c.timezone)}")
        else:
            lines.extend(_takedown_line(t, c.timezone) for t in cs.takedowns(s, case=c))
            if not lines:
                lines.append(
                    f"No removal requests recorded for {c.reference}. Record one: "
                    f"takeback case takedown --case {c.reference} --url URL --platform NAME"
                )
        return lines

    for line in run_db(work):
        out.print(shown(line))


class NoticeFormat(StrEnum):
    TEXT = "text"
    HTML = "html"
    PDF = "pdf"


@case_app.command("notice")
def case_notice(
    case: CaseOpt,
    kind: Annotated[NoticeKind, typer.Option("--kind", help="take-it-down, hk-police, hk-pcpd or hk-eoc.")],
    lang: Annotated[Lang, typer.Option("--lang", help="en or zh-Hant.")] = Lang.EN,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the person signing (not stored).", show_default=False),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Email or phone for replies (not stored).", show_default=False),
    ] = None,
    signature: Annotated[
        str | None,
        typer.Option(
            "--signature", help="Electronic signature, e.g. '/s/ Chan Tai Man'.", show_default=False
        ),
    ] = None,
    url: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="The link(s) the notice covers (repeat for more). Default: the case's open ones: takedowns "
            "not removed or refused, and evidence URLs not yet requested.",
            show_default=False,
        ),
    ] = None,
    platform: Annotated[str | None, typer.Option("--platform", show_default=False)] = None,
    on_behalf_of: Annotated[
        str | None,
        typer.Option(
            "--on-behalf-of", help="The depicted person, when an authorised person signs.", show_default=False
        ),
    ] = None,
    info: Annotated[
        str | None, typer.Option("--info", help="Relevant information for the platform.", show_default=False)
    ] = None,
    fmt: Annotated[
        NoticeFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="text, html or pdf. Default: from --out's extension (.pdf, .html), else text.",
            show_default=False,
        ),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the notice (only what is sent) to this file, and the cover note beside it "
            "(NAME.cover-note.EXT).",
            show_default=False,
            parser=paths.output_file,
        ),
    ] = None,
    cover_path: Annotated[
        Path | None,
        typer.Option(
            "--cover-note",
            help="Where to write the cover note instead.",
            show_default=False,
            parser=paths.output_file,
        ),
    ] = None,
) -> None:
    """Draft a TAKE IT DOWN removal request (every required element, or it says what is missing) or a
    complaint to the Hong Kong Police, PCPD or EOC, in English or Traditional Chinese.

    Two parts: the notice, which is exactly what you send (to stdout, or --out FILE), and a cover note
    for you (what to check and fill in, links covered and left out, deadlines, how to record the
    sending), printed to stderr or written beside the notice. Never send the cover note."""

    from takeback.evidence.service import NoticeDraft, draft_notice

    if fmt is None:  # a file named x.pdf gets a PDF, not text under a .pdf name
        suffix = out_path.suffix.lower() if out_path is not None else ""
        fmt = {".pdf": NoticeFormat.PDF, ".html": NoticeFormat.HTML, ".htm": NoticeFormat.HTML}.get(
            suffix, NoticeFormat.TEXT
        )
    if fmt is NoticeFormat.PDF and out_path is None:
        usage_error("--format pdf needs --out FILE.pdf")

    def draft(s: Session) -> NoticeDraft:
        c = cs.get_case(s, reference=case)
        return draft_notice(
            s,
            case=c,
            kind=kind,
            actor=actor(None),
            lang=lang.value,
            urls=url,
            name=name,
            contact=contact,
            signature=signature,
            platform=platform,
            relevant_info=info,
            on_behalf_of=on_behalf_of,
        )

    got = run_db(draft)
    if got.notice is None:
        usage_error(got.problem or "The notice is incomplete.")
    notice, cover = got.notice, got.cover
    if out_path is not None:
        cover_file = cover_path or out_path.with_name(f"{out_path.stem}.cover-note{out_path.suffix}")
        if cover_file.resolve() == out_path.resolve():
            usage_error("--cover-note must be a different file from --out.")
        _write_doc(notice, out_path, fmt)
        _write_doc(cover, cover_file, fmt)
        out.print(f"Wrote the notice to send: {shown(str(out_path))}")
        out.print(f"Wrote the cover note for you (do not send it): {shown(str(cover_file))}")
        return
    text = render_html(notice) if fmt is NoticeFormat.HTML else render_text(notice)
    # links and names in a notice come from outside: on a terminal they must not drive it
    sys.stdout.write(terminal_text(text, keep_newlines=True) if sys.stdout.isatty() else text)
    sys.stdout.flush()
    if cover_path is not None:
        _write_doc(cover, cover_path, fmt)
        sys.stderr.write(f"Wrote the cover note for you (do not send it): {terminal_text(cover_path)}\n")
    else:
        rule = "-" * 20
        sys.stderr.write(f"\n{rule} cover note for you, not part of the notice (stderr) {rule}\n")
        sys.stderr.write(terminal_text(render_text(cover), keep_newlines=True))


def _write_doc(doc: Document, path: Path, fmt: NoticeFormat) -> None:
    if fmt is NoticeFormat.PDF:
        render_pdf(doc, path)
    else:
        path.write_text(render_html(doc) if fmt is NoticeFormat.HTML else render_text(doc), encoding="utf-8")


@case_app.command("delete")
def case_delete(
    case: CaseOpt,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: erase the case's originals and records.")
    ] = False,
    by: ByOpt = None,
) -> None:
    """Delete a case: erase its encrypted originals and records.

    A tombstone (the reference) and the content-free custody log stay, so earlier bundles still verify.
    """
    if not yes:
        usage_error("Deleting a case erases its evidence originals and records. Add --yes to confirm.")
    from takeback.evidence.service import blob_remover, delete_case
    from takeback.watch.service import delete_case_watches

    sig = signer()

    def work(s: Session) -> int:
        c = cs.get_case(s, reference=case)
        delete_case_watches(s, case=c, actor=actor(by))  # the watched URLs go with the case's records
        return delete_case(s, case=c, actor=actor(by), signer=sig, remove_blob=blob_remover(locker_root()))

    n = run_db(work)
    out.print(f"Case {case.upper()} deleted; {n} encrypted original(s) erased.")


__all__ = [
    "actor",
    "case_app",
    "database",
    "local",
    "local_zone_name",
    "open_locker",
    "run_db",
    "signer",
    "when",
]
