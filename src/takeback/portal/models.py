"""Portal tables. A portal case is an ordinary pseudonymous case (``case_record``) plus a PIN.

What is stored, and why no more: the hashes she sent (so she can ask for receipts and withdraw
them), never a file name or a thumbnail; the PIN only as an Argon2id hash; the evidence she logs;
screenshots only as ciphertext made in her browser under a key the server never sees.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.banks.models import BigId
from takeback.store import Base


class PortalAccess(Base):
    """The PIN of a case opened on the portal."""

    __tablename__ = "portal_access"

    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: how she asked to be reached, only while she consents to contact (free text she chose)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)


class PortalSubmission(Base):
    """One file's hashes as received (hex, as sent), and the bank entry holding them while banked."""

    __tablename__ = "portal_submission"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # photo | video | file
    sha256: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str] = mapped_column(String(32))
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the 8 dihedral PDQ hashes the browser made (rotations and flips), banked with the entry
    dihedral: Mapped[list[str]] = mapped_column(JSON, default=list)
    size: Mapped[int | None] = mapped_column(BigId, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bank_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    #: False when the bank already held these hashes (another person's, or a platform's entry):
    #: withdrawing then leaves that entry alone
    owns_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PortalLogEntry(Base):
    """One line of her evidence log: where it was seen, by whom, what was threatened or reported."""

    __tablename__ = "portal_log_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # sighting | threat | report | other
    happened_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    platform: Mapped[str | None] = mapped_column(String(200), nullable=True)
    account: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PortalSealed(Base):
    """A screenshot (or any file) encrypted in her browser: AES-256-GCM under a PBKDF2 key.

    The server keeps the ciphertext and the public parameters needed to derive the key again from
    her passphrase (salt, iterations, IV); it never receives the passphrase or the plaintext.
    """

    __tablename__ = "portal_sealed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PortalFormToken(Base):
    """A form token already used: a form sent twice is recognised, not acted on twice."""

    __tablename__ = "portal_form_token"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
