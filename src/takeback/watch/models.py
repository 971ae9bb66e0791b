"""A watch: one URL of a case re-checked every few hours; what the last check saw.

The row keeps the URL (the case already holds it as a takedown or evidence link), the image URLs
where a case fingerprint was seen (to tell "still up" from "re-uploaded"), and the last outcome.
Never image bytes: checks hash in memory and keep fingerprints in the custody log.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from takeback.clock import utcnow
from takeback.store.db import Base


class Outcome(StrEnum):
    STILL_UP = "still_up"  # a case fingerprint was seen where it was seen before
    REMOVED = "removed"  # the page was fetched and no case fingerprint was on it
    REUPLOADED = "reuploaded"  # seen at a new image URL, on another page, or back after removal
    PAGE_GONE = "page_gone"  # HTTP 404 or 410
    UNREACHABLE = "unreachable"  # refused address, DNS, TLS, timeout, other HTTP errors: reason says which


class Watch(Base):
    __tablename__ = "watch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    takedown_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_takedown.id", ondelete="SET NULL"), nullable=True
    )
    every_hours: Mapped[int] = mapped_column(Integer)
    next_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    #: image URLs where a case fingerprint has been seen on this page (the reported copies)
    seen_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
