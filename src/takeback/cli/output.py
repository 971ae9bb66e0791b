"""Record writers shared by every command that prints records (table, JSON Lines, CSV), and the
few phrases every command prints the same way (PDQ quality, who is acting)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from takeback.config import ACTOR_CLI, acting


class Format(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"


def _cell(value: Any) -> str:
    """CSV cell text: lists space-separated, error objects as ``code: message``."""
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) >= {"code", "message"}:
        return f"{value['code']}: {value['message']}"
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class JsonlWriter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class CsvWriter:
    def __init__(self, out: TextIO, fields: Sequence[str]) -> None:
        self.out = out
        self.writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
        self.writer.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        self.writer.writerow({k: _cell(v) for k, v in record.items()})
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


def quality_note(quality: int | None) -> str:
    """``quality 87``, or ``quality 0 (unreliable: below 50)`` in yellow: every human-facing PDQ of
    quality below 50 says so (such hashes match unrelated flat pictures), never a bare number."""
    from takeback.signals.pdq import LOW_QUALITY  # numpy: only for commands that print hashes

    if quality is None:
        return "quality unknown"
    if quality < LOW_QUALITY:
        return f"[yellow]quality {quality} (unreliable: below {LOW_QUALITY})[/]"
    return f"quality {quality}"


def cli_actor() -> str:
    """Audit actor for bank, keys and match at a terminal: ``cli``, or ``cli:NAME`` with
    ``TAKEBACK_ACTOR``; never the operating-system account (bank exports carry it to others)."""
    who = acting(None, default="")
    return f"{ACTOR_CLI}:{who}" if who else ACTOR_CLI


def readable_utc(value: datetime | str | None) -> str:
    """``2026-11-20 13:15 UTC``: a time as a person reads it in a table, the zone named. Machine
    output (jsonl, csv, JSON) keeps ISO 8601; naive datetimes are UTC (as the store keeps them)."""
    if value is None:
        return ""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return f"{dt:%Y-%m-%d %H:%M} UTC"
