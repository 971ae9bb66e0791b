"""How often each bank entry has matched a lookup, per day.

Why a table of its own: a victim who banked her images asks "has anything matched?", and a
caseworker asks which entries keep coming back. The audit log holds every matched lookup, but
answering from it means reading every lookup ever made; this table is one upserted row per entry per
day, written in the same transaction as the lookup's audit row (``web.auditlog``), so the two cannot
disagree. Rows outlive their entry: a withdrawn entry's history stays readable to its owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import Date, Executable, Integer, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from takeback.banks.models import BigId
from takeback.store import Base

_CHUNK = 500


class ContentHit(Base):
    __tablename__ = "bank_content_hit"

    content_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


def _upsert(dialect: str) -> Executable:
    """One single-row upsert per dialect, built once: executed with many rows (executemany), its
    compiled form is cached, where a multi-row VALUES of a new length each time was compiled anew
    (measured: most of the audit writer's time under lookup load)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        table = cast(Table, ContentHit.__table__)
        if dialect == "postgresql":
            pg = pg_insert(table)
            stmt = pg.on_conflict_do_update(
                index_elements=["content_id", "day"], set_={"hits": table.c.hits + pg.excluded.hits}
            )
        else:
            lite = sqlite_insert(table)
            stmt = lite.on_conflict_do_update(
                index_elements=["content_id", "day"], set_={"hits": table.c.hits + lite.excluded.hits}
            )
        _UPSERTS[dialect] = stmt
    return stmt


_UPSERTS: dict[str, Executable] = {}


def record_hits(session: Session, content_ids: Iterable[int], *, day: date) -> None:
    """Add one hit per id (an id given twice counts twice) to ``day``'s rows, creating them.

    An upsert (``ON CONFLICT DO UPDATE``) so two workers counting the same entry at once never
    collide: a unique-key error here would fail the lookup's audit write, and so the lookup.
    """
    counts = Counter(int(c) for c in content_ids)
    if not counts:
        return
    rows = [{"content_id": c, "day": day, "hits": n} for c, n in sorted(counts.items())]
    session.execute(_upsert(session.get_bind().dialect.name), rows)


@dataclass(frozen=True, slots=True)
class HitDay:
    content_id: int
    day: date
    hits: int


def hits_for(session: Session, content_ids: Sequence[int]) -> list[HitDay]:
    """Every day on which any of ``content_ids`` matched, oldest first."""
    wanted = sorted({int(c) for c in content_ids})
    out: list[HitDay] = []
    for i in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(ContentHit.content_id, ContentHit.day, ContentHit.hits).where(
                ContentHit.content_id.in_(wanted[i : i + _CHUNK])
            )
        ).all()
        out.extend(HitDay(int(c), d, int(h)) for c, d, h in rows)
    return sorted(out, key=lambda h: (h.day, h.content_id))
