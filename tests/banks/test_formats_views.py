"""Entries as the views an export reads, without a database (for format tests and fuzzing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from takeback.banks.service import ContentView, NewContent


def views_of(entries: Sequence[NewContent], bank: str = "b") -> list[ContentView]:
    return [
        ContentView(
            id=i,
            bank=bank,
            signals={s.signal_type: (s.value, s.quality) for s in e.signals},
            note=e.note,
            metadata=dict(e.metadata),
            source=e.source,
            enabled=e.enabled,
            disabled_until=e.disabled_until,
            created_at=e.created_at or datetime(2026, 1, 1, tzinfo=UTC),
            created_by=e.created_by or "test",
        )
        for i, e in enumerate(entries, start=1)
    ]
