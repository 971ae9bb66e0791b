"""Bank export and import files: JSON Lines or CSV, one entry per record, exact round trip.

Records carry :func:`~takeback.banks.models.export_fields`: each registered signal type's value as
lowercase hex (a video's ``vpdq`` as its packed value in hex: every stored frame, the border-cropped
frames and the duration, so nothing is lost; the reference ``frame,quality,hash,timestamp`` lines
are accepted too), the note, metadata (a JSON object; in CSV a JSON text cell), provenance (source,
created_at, created_by) and the enabled / disabled_until state. ``content_id`` is informational:
imports assign new ids.

Reading validates every row before anything is written and reports every bad row by line number
(:class:`~takeback.banks.service.ImportFileError`), so a file imports whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, BinaryIO, TextIO

from takeback.banks.models import export_fields
from takeback.banks.service import (
    BankError,
    ContentView,
    ImportFileError,
    NewContent,
    check_metadata,
    check_note,
    signal_order,
)
from takeback.banks.strictjson import json_problem, loads
from takeback.errors import TakebackError, article
from takeback.signals import REGISTRY, SignalType, SignalValue

#: CSV cells may be this long. A video's vpdq cell is ~1.6 kB of hex per second of handheld footage
#: (every distinct frame, twice with a border): far over the csv module's default of 128 kB.
_CSV_FIELD_LIMIT = 1 << 30


class TransferFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def guess_format(name: str) -> TransferFormat | None:
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return TransferFormat.JSONL
    if lower.endswith(".csv"):
        return TransferFormat.CSV
    return None


# --- export ---------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def write_export(views: Iterable[ContentView], out: TextIO, fmt: TransferFormat) -> int:
    """Write every entry; returns how many."""
    n = 0
    if fmt is TransferFormat.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(export_fields())
        for v in views:
            writer.writerow([_csv_cell(x) for x in v.to_record().values()])
            n += 1
    else:
        for v in views:
            out.write(json.dumps(v.to_record(), ensure_ascii=False, sort_keys=False) + "\n")
            n += 1
    out.flush()
    return n


# --- import ---------------------------------------------------------------------------------------


def _text(rec: dict[str, Any], key: str) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BankError(f"{key}: must be text.")
    return value


def _time(rec: dict[str, Any], key: str) -> datetime | None:
    value = _text(rec, key)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BankError(f"{key}: {value!r} is not an ISO 8601 date-time.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


_Spec = tuple[frozenset[str], tuple[tuple[SignalType, str, str | None], ...]]
_spec_cache: list[tuple[tuple[SignalType, ...], _Spec]] = []


def _spec() -> _Spec:
    """The known fields and (type, field, quality field) per registered signal type, worked out
    once per state of the registry (a feed page or an import reads them for every record)."""
    now = tuple(REGISTRY.values())
    if _spec_cache:
        was, spec = _spec_cache[0]
        if len(was) == len(now) and all(a is b for a, b in zip(was, now, strict=True)):
            return spec
    types = tuple((t, t.name, f"{t.name}_quality" if t.has_quality else None) for t in now)
    spec = (frozenset(export_fields()), types)
    _spec_cache[:] = [(now, spec)]
    return spec


def _entry(rec: dict[str, Any], *, from_csv: bool, default_source: str) -> NewContent:
    """One record to a validated entry; raises with a message naming the bad field."""
    known, types = _spec()
    if not known.issuperset(rec):
        unknown = sorted(set(rec) - known)
        raise BankError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}.")
    if from_csv:
        rec = {k: (None if v == "" else v) for k, v in rec.items()}
        if rec.get("metadata") is not None:
            try:
                rec["metadata"] = json.loads(rec["metadata"])
            except json.JSONDecodeError:
                raise BankError("metadata: not valid JSON.") from None
        for key in (f"{t.name}_quality" for t in REGISTRY.values() if t.has_quality):
            if rec.get(key) is not None:
                try:
                    rec[key] = int(rec[key])
                except ValueError:
                    raise BankError(f"{key}: {rec[key]!r} is not a whole number.") from None
        if rec.get("enabled") is not None:
            flag = str(rec["enabled"]).strip().lower()
            if flag not in ("true", "false"):
                raise BankError(f"enabled: {rec['enabled']!r} is not true or false.")
            rec["enabled"] = flag == "true"
    signals = []
    for t, name, qname in types:
        value = rec.get(name)
        if value is None:
            continue
        quality = rec.get(qname) if qname is not None else None
        if not isinstance(value, str):
            raise BankError(f"{name}: must be a hex string.")
        if quality is not None and (
            isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100
        ):
            raise BankError(f"{name}_quality: must be a whole number 0-100.")
        signals.append(SignalValue(name, t.validate(value, field=name), quality))
    if not signals:
        raise BankError(f"no hash: give at least one of {', '.join(signal_order())}.")
    for _, name, qname in types:
        if qname is not None and rec.get(qname) is not None and rec.get(name) is None:
            raise BankError(f"{qname}: given without {article(name)} {name} hash.")
    enabled = rec.get("enabled")
    if enabled is None:
        enabled = True
    if not isinstance(enabled, bool):
        raise BankError("enabled: must be true or false.")
    return NewContent(
        signals=tuple(signals),
        note=check_note(_text(rec, "note")),
        metadata=check_metadata(rec.get("metadata")),
        source=_text(rec, "source") if "source" in rec else default_source,
        enabled=enabled,
        disabled_until=None if enabled else _time(rec, "disabled_until"),
        created_at=_time(rec, "created_at"),
        created_by=_text(rec, "created_by") or None,
    )


def entry_from_record(rec: dict[str, Any], *, default_source: str) -> NewContent:
    """One export record (JSON shape) as a validated entry (a feed page carries these)."""
    return _entry(rec, from_csv=False, default_source=default_source)


def _jsonl_records(data: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line, record) or (line, problem) per non-blank line (a key twice in a record is a problem)."""
    for line_no, raw in enumerate(data, start=1):
        try:
            line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            yield line_no, "not UTF-8 text."
            continue
        if not line:
            continue
        try:
            rec = loads(line)
        except ValueError as exc:
            yield line_no, json_problem(exc)
            continue
        yield line_no, rec if isinstance(rec, dict) else "not a JSON object."


def _csv_records(data: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:  # process-wide; only ever raised
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        text = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
    except UnicodeDecodeError:
        yield 1, "not UTF-8 text."
        return
    if header is None:
        return
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        yield 1, f"the header names {', '.join(twice)} twice."
        return
    if not set(header) & set(signal_order()):
        names = ", ".join(signal_order())
        yield 1, f"the header names none of {names} (is this a takeback bank export?)."
        return
    line = reader.line_num + 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield start, f"{len(row)} cells where the header has {len(header)}."
                continue
            yield start, dict(zip(header, row, strict=True))
    except UnicodeDecodeError:
        yield line, "not UTF-8 text."
    except csv.Error as exc:
        yield line, f"not valid CSV ({exc})."


def read_records(
    data: BinaryIO, *, fmt: TransferFormat, default_source: str
) -> Iterator[tuple[int, NewContent | str]]:
    """(line, entry) or (line, problem) for each record of a takeback export, in file order."""
    records = _csv_records(data) if fmt is TransferFormat.CSV else _jsonl_records(data)
    for line, rec in records:
        if isinstance(rec, str):
            yield line, rec
            continue
        try:
            yield line, _entry(rec, from_csv=fmt is TransferFormat.CSV, default_source=default_source)
        except TakebackError as exc:
            yield line, exc.message


def read_import(data: BinaryIO, *, fmt: TransferFormat, source: str) -> list[NewContent]:
    """Every entry of an import file, or :class:`ImportFileError` listing every bad row."""
    entries: list[NewContent] = []
    problems: list[tuple[int, str]] = []
    for line, rec in read_records(data, fmt=fmt, default_source=f"import:{source}"):
        if isinstance(rec, str):
            problems.append((line, rec))
        else:
            entries.append(rec)
    if problems:
        raise ImportFileError(problems, source=source)
    return entries
