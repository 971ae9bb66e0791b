"""Record writers shared by every command that prints records (table, JSON Lines, CSV), the few
phrases every command prints the same way (PDQ quality, who is acting), and the one way text from
the outside world is made safe for a terminal (:func:`shown`, :func:`terminal_text`)."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from rich.markup import escape

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


#: Format characters kept as they are: joiners that emoji sequences and Persian/Indic names need to
#: render (they cannot move the cursor, start a line or reorder text).
_KEEP_FORMAT = frozenset("\u200c\u200d")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _needs_escape(ch: str) -> bool:
    if ch.isprintable() or ch == " ":
        return False
    # not printable: C0, DEL, C1 (Cc), bidi overrides/isolates and other format characters (Cf),
    # line/paragraph separators (Zl, Zp), lone surrogates (Cs), unassigned code points (Cn)
    return ch not in _KEEP_FORMAT and unicodedata.category(ch) != "Co"


def terminal_text(text: object, *, keep_newlines: bool = False) -> str:
    """Text from the outside world (file names, URLs, notes, error messages) made safe to print on a
    terminal: control characters (C0, C1, DEL), bidirectional overrides and isolates
    (U+202A-202E, U+2066-2069) and other invisible format characters are written as ``\\x1b``,
    ``\\n``, ``\\u202e``. A hostile name cannot then colour, move or forge terminal lines, or show
    text in another order than it is stored. ``keep_newlines`` keeps line breaks (and tabs) of a
    multi-line document. JSON Lines and CSV have their own, exact quoting and do not use this."""
    s = str(text)
    if s.isprintable():  # the common case, checked in C
        return s
    keep = "\n\t" if keep_newlines else ""
    return "".join(_escape_char(c) if c not in keep and _needs_escape(c) else c for c in s)


def shown(text: object) -> str:
    """:func:`terminal_text` and Rich markup escaped: THE way outside text goes into a Rich
    ``print`` (``[red]`` in a file name prints as itself, not as a colour)."""
    return escape(terminal_text(text))
