"""Counters for guessing and flooding: failed sign-ins (portal PINs, staff passwords) and uses.

One table and one set of rules for every surface that signs people in. Keys are chosen by the
caller: a hashed client, or what was typed (a case number, a staff handle) whether or not it
exists, so a locked-out answer never tells a guesser which ones are real. The table keeps the name
it was created with (``portal_throttle``, migration 0700), when only the portal counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from takeback.clock import as_utc
from takeback.store.db import Base


class Throttle(Base):
    __tablename__ = "portal_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def fail(
    session: Session, key: str, *, limit: int, window: timedelta, lock: timedelta, now: datetime
) -> bool:
    """Count one failure for ``key``; True when it is now locked (for ``lock``)."""
    row = session.get(Throttle, key)
    if row is None or as_utc(row.window_start) + window <= now:
        if row is None:
            row = Throttle(key=key, window_start=now, count=0, locked_until=None)
            session.add(row)
        row.window_start, row.count = now, 0
    row.count += 1
    if row.count >= limit:
        row.locked_until = now + lock
        return True
    return False


def locked_until(session: Session, key: str, now: datetime) -> datetime | None:
    """When ``key``'s lock ends, if it is locked now."""
    row = session.get(Throttle, key)
    until = as_utc(row.locked_until) if row is not None else None
    return until if until is not None and until > now else None


def clear(session: Session, key: str) -> None:
    """Forget ``key``'s failures (after a success)."""
    session.execute(delete(Throttle).where(Throttle.key == key))


def use(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one use of ``key`` (e.g. a client's submissions); False once ``limit`` is passed."""
    row = session.get(Throttle, key)
    if row is None:
        session.add(Throttle(key=key, window_start=now, count=1, locked_until=None))
        return True
    if as_utc(row.window_start) + window <= now:
        row.window_start, row.count = now, 1
        return True
    row.count += 1
    return row.count <= limit
