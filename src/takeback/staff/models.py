"""Staff tables: accounts, one-time enrolment links, sessions, case access, scan folders.

What is stored, and why no more: a handle (a login name the organisation chooses, never needing a
real name), the password only as an Argon2id hash, the TOTP seed only sealed (AES-GCM under the
installation's ``keys/staff-secret``, so a copy of the database alone gives no second factor),
session and enrolment tokens only as SHA-256 digests (the database never holds a live cookie).
Accounts are deactivated, never deleted: the audit log names them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.cases.models import Case  # noqa: F401 (case_record, for the assignment foreign key)
from takeback.store import Base


class StaffRole(StrEnum):
    CASEWORKER = "caseworker"  # the victim cases assigned to her
    SUPERVISOR = "supervisor"  # every victim case; assigns cases and scan folders
    INVESTIGATOR = "investigator"  # the scan case folders assigned to her (the review grid)
    ADMIN = "admin"  # accounts and scan folder registration; no case content


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    #: None until she chose one through her enrolment link
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: None until she confirmed a code from her app; cleared by reset-totp
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: the last TOTP step accepted: a code is good once
    totp_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StaffEnrolment(Base):
    """A one-time link (token digest) to choose a password and add the second factor."""

    __tablename__ = "staff_enrolment"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    #: the seed the QR code shows, sealed, until a code from it is confirmed
    totp_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StaffSession(Base):
    __tablename__ = "staff_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScanFolder(Base):
    """A ``takeback scan`` case folder registered for the review grid (opened in place)."""

    __tablename__ = "scan_folder"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    label: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(200))


class Assignment(Base):
    """One staff member's access to one victim case or one scan folder, until removed."""

    __tablename__ = "staff_assignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), nullable=True, index=True
    )
    scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan_folder.id", ondelete="CASCADE"), nullable=True, index=True
    )
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assigned_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
