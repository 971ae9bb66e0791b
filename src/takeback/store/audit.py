"""The one audit-log writer. Append-only: the database itself refuses updates and deletes.

Rows say who did what to which object and when, with small JSON details. Never image bytes, face
templates or personal data: callers pass identifiers and counts, not content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from takeback.clock import utcnow
from takeback.store.db import Base

_FORBIDDEN_DETAIL_TYPES = (bytes, bytearray, memoryview)


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event to the caller's unit of work (the caller commits)."""
    clean = dict(details or {})
    for key, value in clean.items():
        if isinstance(value, _FORBIDDEN_DETAIL_TYPES):
            raise ValueError(f"audit detail {key!r} is raw bytes; audit rows never carry content")
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=clean,
    )
    session.add(event)
    return event
