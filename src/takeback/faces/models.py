"""Enrolled people and their face templates.

What is stored, and why no more: a random pseudonym (``FP-7F3K9QX2``), never a name or a photo's
file name; the case she belongs to; the consent reference she gave (a form's number, not her
name), its scope (other cases that may search for her; whether platforms may match uploads against
her) and expiry; and per enrolled photo only the template: the 128-d embedding sealed with AES-GCM
under a key derived from the installation's ``keys/faces-secret`` (a copy of the database alone
holds no usable template), with the face's size, score and warnings. Never the photo.
Withdrawal deletes the rows; the audit log keeps that it happened, never a template.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.cases.models import Case  # noqa: F401 (case_record, for the person's foreign key)
from takeback.store import Base


class FacePerson(Base):
    __tablename__ = "face_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    consent_ref: Mapped[str] = mapped_column(String(200))
    #: other cases' references that may search for her, space-separated ('' = her own case only)
    scope_cases: Mapped[str] = mapped_column(Text, default="")
    platform_matching: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the model that made the templates (another model's embeddings are not comparable)
    model: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class FaceTemplate(Base):
    __tablename__ = "face_template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("face_person.id", ondelete="CASCADE"), index=True)
    #: 12-byte nonce + AES-GCM ciphertext and tag of the 512-byte embedding, bound to the person
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    score: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
