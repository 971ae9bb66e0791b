"""What every bank file format shares: text decoding, strict JSON, entries built from hashes.

Readers yield ``(line, entry)`` or ``(line, problem)`` pairs so that one caller collects every bad
row of a file before anything is written (all or nothing per file). JSON is parsed strictly: a
duplicate key in an object is a bad row (two tools reading the same record must not see two
different values), and so are the non-standard ``NaN`` / ``Infinity``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, BinaryIO

from takeback.banks.service import BankError, NewContent
from takeback.banks.strictjson import DuplicateKeyError, StrictDecoder, json_problem, loads
from takeback.signals import REGISTRY, SignalValue

#: (line, entry) or (line, a message saying what is wrong with that line)
Row = tuple[int, NewContent | str]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_document(raw: bytes) -> str | tuple[int, str]:
    """A whole file as text: UTF-8 (with or without a BOM), or UTF-16 / UTF-32 with a BOM (as
    Windows tools write them). Undecodable bytes give ``(line, problem)`` for the first bad line."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            encoding = name
            break
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            return 1, f"not valid {encoding.upper()} text."
        return raw.count(b"\n", 0, exc.start) + 1, "not UTF-8 text (save the file as UTF-8)."


def text_lines(data: BinaryIO) -> Iterator[tuple[int, str | None]]:
    """Each line of a UTF-8 file (BOM allowed on the first), or ``None`` where a line is not UTF-8.
    Read line by line, so a file of any size streams; a UTF-16 file is refused on line 1."""
    for line_no, raw in enumerate(data, start=1):
        if line_no == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield 1, None
            return
        try:
            yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError:
            yield line_no, None


def json_array_items(text: str) -> Iterator[tuple[int, Any]]:
    """The elements of a top-level JSON array, each with the line it starts on; or, when the text
    is not an array, each non-blank line as a JSON document (JSON Lines). An element that does not
    parse yields ``(line, problem)`` as a ``str`` wrapped in :class:`Problem`."""
    start = _skip_space(text, 0)
    if start >= len(text) or text[start] != "[":
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield line_no, loads(line)
                except ValueError as exc:
                    yield line_no, Problem(json_problem(exc))
        return
    yield from array_items(text, start)


class Problem(str):
    """A problem message yielded where a parsed value was expected."""


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def array_items(text: str, pos: int, *, line_base: int = 0) -> Iterator[tuple[int, Any]]:
    """The elements of the JSON array starting at ``text[pos] == "["``. After a broken element the
    rest cannot be located reliably, so one problem is reported and reading stops."""
    decoder = StrictDecoder()
    line = text.count("\n", 0, pos) + 1 + line_base
    counted = pos
    pos = _skip_space(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError as exc:
            at = pos if not isinstance(exc, json.JSONDecodeError) else exc.pos
            yield text.count("\n", 0, at) + 1 + line_base, Problem(json_problem(exc))
            return
        key = decoder.take_duplicate()
        yield line, value if key is None else Problem(json_problem(DuplicateKeyError(key)))
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return
        yield text.count("\n", 0, pos) + 1 + line_base, Problem("not valid JSON (expected , or ] here).")
        return


def signal(name: str, value: Any, quality: Any = None, *, field: str | None = None) -> SignalValue:
    """A validated signal of a registered type (``BankError``/``SignalError`` name the field)."""
    label = field or name
    st = REGISTRY.get(name)
    if st is None:
        raise BankError(f"{label}: takeback has no signal type {name!r}.")
    if not isinstance(value, str):
        raise BankError(f"{label}: must be text.")
    if quality is not None and (
        isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100
    ):
        raise BankError(f"{label}: the quality must be a whole number 0-100.")
    return SignalValue(name, st.validate(value, field=label), quality if st.has_quality else None)


def with_metadata(entry: NewContent, **extra: Any) -> NewContent:
    return replace(entry, metadata={**entry.metadata, **extra})


#: CSV cells may be this long (a video's signal is ~1.6 kB of hex per second of footage)
CSV_FIELD_LIMIT = 1 << 30


def csv_rows(
    data: BinaryIO, *, required: tuple[str, ...], allowed: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | Problem]]:
    """Records of a UTF-8 CSV file with a header naming ``required`` and only ``allowed`` columns,
    each with the line it starts on (a quoted cell may span lines)."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:  # process-wide; only ever raised
        csv.field_size_limit(CSV_FIELD_LIMIT)
    head = data.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield 1, Problem("UTF-16 text: save the file as UTF-8.")
        return
    stream = io.BufferedReader(_Prefixed(head, data))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    line = 1
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip() for h in header]
        missing = [r for r in required if r not in names]
        unknown = [h for h in names if h not in allowed]
        twice = sorted({h for h in names if names.count(h) > 1})
        if missing or unknown or twice:
            what = (
                f"the header lacks {', '.join(missing)}"
                if missing
                else f"the header names {', '.join(twice)} twice"
                if twice
                else f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            )
            yield 1, Problem(f"{what} (columns: {', '.join(allowed)}).")
            return
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield start, Problem(f"{len(row)} cells where the header has {len(names)}.")
                continue
            yield start, dict(zip(names, row, strict=True))
    except UnicodeDecodeError:
        yield line, Problem("not UTF-8 text (save the file as UTF-8).")
    except csv.Error as exc:
        yield line, Problem(f"not valid CSV ({exc}).")


class _Prefixed(io.RawIOBase):
    """A raw stream that first gives back bytes already read (to sniff a BOM) then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._rest.read(len(buf))
        buf[: len(chunk)] = chunk
        return len(chunk)
