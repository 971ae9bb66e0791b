"""Case tables and the values they may hold.

Cases are pseudonymous: a random reference (``TB-7F3K-9QX2``) and an optional alias chosen by the
caseworker; no name, address or contact detail of the person is stored. Notices that need a name
and contact details take them at generation time and do not keep them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.clock import utcnow
from takeback.guidance.situation import VictimAge
from takeback.store.db import Base


class Purpose(StrEnum):
    """What a person may consent to, one by one; each can be withdrawn."""

    HASHING = "hashing"
    REFERRAL = "referral"
    POLICE_SHARING = "police-sharing"
    FACE_ENROLMENT = "face-enrolment"
    CONTACT = "contact"  # a caseworker may contact the person (the portal's second question)
    #: a caseworker of this installation may open the case she made on the portal (her case number
    #: typed into the console links it); withdrawing closes it to every caseworker at once
    CASEWORKER_SHARING = "caseworker-sharing"


class CaseStatus(StrEnum):
    """Where a case stands for the people working on it; ``deleted`` is only ever set by deletion."""

    OPEN = "open"
    CLOSED = "closed"  # the work is done; it stays listed under "closed" and can be reopened
    DELETED = "deleted"


class ReferralStatus(StrEnum):
    DRAFT = "draft"  # the default: written, not yet sent (a referral is "sent" only when someone says so)
    PLANNED = "planned"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in-progress"
    CLOSED = "closed"
    DECLINED = "declined"


class TakedownStatus(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REMOVED = "removed"
    REFUSED = "refused"
    NO_REPLY = "no-reply"

    @property
    def is_response(self) -> bool:
        return self in (TakedownStatus.ACKNOWLEDGED, TakedownStatus.REMOVED, TakedownStatus.REFUSED)

    @property
    def is_final(self) -> bool:
        return self in (TakedownStatus.REMOVED, TakedownStatus.REFUSED)


class ClockStatus(StrEnum):
    RUNNING = "running"
    MET = "met"
    STOPPED = "stopped"


class Case(Base):
    __tablename__ = "case_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    alias: Mapped[str | None] = mapped_column(String(100), nullable=True)
    jurisdiction: Mapped[str] = mapped_column(String(10))
    victim_age: Mapped[str] = mapped_column(String(16))
    setting: Mapped[str | None] = mapped_column(String(20), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64))
    incident_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def age(self) -> VictimAge:
        return VictimAge(self.victim_age)

    @property
    def custody_log_id(self) -> str:
        return f"case:{self.reference}"


class Consent(Base):
    __tablename__ = "case_consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(200))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Referral(Base):
    __tablename__ = "case_referral"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=ReferralStatus.DRAFT.value)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reference_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Takedown(Base):
    __tablename__ = "case_takedown"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(100), nullable=True)
    via: Mapped[str] = mapped_column(String(16), default="platform")
    status: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reference_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Clock(Base):
    """A deadline: started at an event, due after a duration; overdue while running past ``due_at``."""

    __tablename__ = "case_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str | None] = mapped_column(String(100), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    duration: Mapped[str] = mapped_column(String(16))
    zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ClockStatus.RUNNING.value)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence: Mapped[str] = mapped_column(String(16), default="confirmed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
