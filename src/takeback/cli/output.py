"""Record writers shared by every command that prints records: table, JSON Lines, CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TextIO


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
