"""Evidence items: one captured file or URL, its fingerprints and its context.

Items are never edited after capture: what was recorded at capture is what the custody entry's
``record_sha256`` covers, and a bundle's manifest repeats exactly that record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.clock import as_utc, iso_utc
from takeback.store.db import Base


class EvidenceItem(Base):
    __tablename__ = "evidence_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # file | url
    original_name: Mapped[str | None] = mapped_column(String(500), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    final_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    platform: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account: Mapped[str | None] = mapped_column(String(200), nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    capture_zone: Mapped[str] = mapped_column(String(64))
    captured_by: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    stored: Mapped[bool] = mapped_column(Boolean, default=False)
    blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetch: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    fingerprint_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    record_sha256: Mapped[str] = mapped_column(String(64))
    custody_seq: Mapped[int] = mapped_column(Integer)


RECORD_FIELDS = (
    "id",
    "kind",
    "original_name",
    "url",
    "final_url",
    "platform",
    "account",
    "posted_at",
    "captured_at",
    "capture_zone",
    "captured_by",
    "sha256",
    "md5",
    "pdq",
    "pdq_quality",
    "size",
    "media_type",
    "stored",
    "note",
    "fetch",
    "fingerprint_error",
)


def item_record(item: EvidenceItem, case_reference: str) -> dict[str, Any]:
    """The item as the manifest shows it and as ``record_sha256`` covers it (times in canonical UTC)."""
    rec: dict[str, Any] = {"case": case_reference}
    for name in RECORD_FIELDS:
        value = getattr(item, name)
        if isinstance(value, datetime):
            value = iso_utc(as_utc(value))
        rec[name] = value
    return rec
