"""Intake: a new case from the fields a person filled in (the console's form, the CLI's options).

Every field arrives as text and is checked here, once, so the console and ``takeback case new``
refuse the same input with the same codes; the error names the field (``IntakeError.field``) so a
form can show the message beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from takeback.cases.models import Case, Purpose
from takeback.cases.service import CaseError, clean_text, create_case
from takeback.clock import get_zone, parse_date
from takeback.errors import TakebackError
from takeback.guidance.kb import KnowledgeBase, load_kb
from takeback.guidance.situation import Setting, VictimAge

#: what a person can agree to when a caseworker opens her case (sharing a portal case is hers to give
#: on the portal, so it is not among them)
INTAKE_PURPOSES = (
    Purpose.HASHING,
    Purpose.REFERRAL,
    Purpose.POLICE_SHARING,
    Purpose.FACE_ENROLMENT,
    Purpose.CONTACT,
)


class IntakeError(CaseError):
    """A field of the intake form that cannot be used, named by ``field``."""

    code = "bad_intake"

    def __init__(
        self, message: str, *, field: str, code: str | None = None, cause: TakebackError | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.field = field
        #: the service's own error behind it (a ``TextTooLongError`` with its numbers), if any
        self.cause = cause


@dataclass(frozen=True)
class Intake:
    jurisdiction: str
    victim_age: VictimAge
    setting: Setting | None
    timezone: str
    incident_date: date | None
    alias: str | None
    consents: tuple[Purpose, ...]


def _choice(value: str | None, kind: type[VictimAge] | type[Setting], field: str) -> str | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    known = [v.value for v in kind]
    if text not in known:
        raise IntakeError(f"{field}: one of {', '.join(known)}.", field=field, code="bad_choice")
    return text


def parse_intake(
    *,
    jurisdiction: str,
    victim_age: str | None = None,
    setting: str | None = None,
    incident_date: str | None = None,
    timezone: str | None = None,
    alias: str | None = None,
    consents: Iterable[str] = (),
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> Intake:
    """The intake fields as typed, checked: a known jurisdiction, a real time zone (default: the
    jurisdiction's), a date that is not in the future, known purposes, an alias within its limit."""
    base = kb or load_kb()
    if not (jurisdiction or "").strip():
        raise IntakeError("Choose the jurisdiction.", field="jurisdiction", code="unknown_jurisdiction")
    try:
        j = base.get(jurisdiction.strip())
    except (KeyError, TakebackError) as exc:
        message = exc.message if isinstance(exc, TakebackError) else f"Unknown jurisdiction {jurisdiction!r}."
        raise IntakeError(message, field="jurisdiction", code="unknown_jurisdiction") from None
    zone = (timezone or "").strip() or j.timezone
    try:
        get_zone(zone)
    except TakebackError as exc:
        raise IntakeError(exc.message, field="timezone", code=exc.code) from None
    day = None
    if (incident_date or "").strip():
        try:
            day = parse_date(str(incident_date).strip(), zone=zone, now=now, what="incident date")
        except TakebackError as exc:
            raise IntakeError(exc.message, field="incident_date", code=exc.code) from None
    purposes: list[Purpose] = []
    for raw in consents:
        for part in raw.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                purpose = Purpose(name)
            except ValueError:
                purpose = None
            if purpose not in INTAKE_PURPOSES:
                raise IntakeError(
                    f"Unknown consent purpose {name!r}; use {', '.join(p.value for p in INTAKE_PURPOSES)}.",
                    field="consents",
                    code="unknown_purpose",
                )
            assert purpose is not None
            if purpose not in purposes:
                purposes.append(purpose)
    try:
        clean_alias = clean_text(alias, "alias")
    except CaseError as exc:
        raise IntakeError(exc.message, field="alias", code=exc.code, cause=exc) from None
    age = _choice(victim_age, VictimAge, "victim_age")
    where = _choice(setting, Setting, "setting")
    return Intake(
        jurisdiction=j.code,
        victim_age=VictimAge(age) if age else VictimAge.ADULT,
        setting=Setting(where) if where else None,
        timezone=zone,
        incident_date=day,
        alias=clean_alias,
        consents=tuple(purposes),
    )


def open_case(
    session: Session,
    *,
    intake: Intake,
    actor: str,
    kb: KnowledgeBase | None = None,
    now: datetime | None = None,
) -> Case:
    """Open the case an intake describes (``cases.service.create_case``: clocks from the incident date)."""
    return create_case(
        session,
        actor=actor,
        jurisdiction=intake.jurisdiction,
        victim_age=intake.victim_age,
        setting=intake.setting,
        timezone=intake.timezone,
        incident_date=intake.incident_date,
        alias=intake.alias,
        consents=intake.consents,
        kb=kb,
        now=now,
    )
