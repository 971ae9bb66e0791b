"""python-threatexchange's signal CSV and HMA's bank-content JSON.

``te-csv`` is what ``threatexchange dataset -P --csv`` prints: a header
``signal_type,signal_str,collab,category,tags`` and one row per signal (``tags`` space-separated,
``category`` an opinion: ``POSITIVE_CLASS``, ``NEGATIVE_CLASS``, ``INVESTIGATION_SEED`` or the
aggregate ``DISPUTED``). One row is one entry with one signal. A ``NEGATIVE_CLASS`` row (a known
false positive or test data) is imported disabled, so it never matches.

``hma-json`` is a JSON array of HMA's bank-content objects (``GET /c/bank/<b>/content/<id>`` with
``include_signals=true``): ``id``, ``bank``, ``signals`` ({type: signal string}), ``note``,
``metadata``, ``disable_until_ts``, ``original_media_uri``. JSON Lines of the same objects are read too.

Signal strings are python-threatexchange's: PDQ and MD5 as hex, vPDQ as a JSON list of
``"pdq_hex,quality,timestamp"`` frames (frame numbers, border-cropped frames and the duration have
no place there: use takeback's own JSONL to keep a video's value whole). What only these formats
carry (collab, category, tags; HMA's media URI) is kept in the entry's metadata (``threatexchange``,
``hma``) so that exporting again writes the same file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

from takeback.banks.formats.common import (
    Problem,
    Row,
    csv_rows,
    decode_document,
    json_array_items,
    signal,
    with_metadata,
)
from takeback.banks.service import BankError, ContentView, NewContent, check_metadata, check_note
from takeback.errors import TakebackError
from takeback.signals import REGISTRY, SignalValue

TE_COLUMNS = ("signal_type", "signal_str", "collab", "category", "tags")
CATEGORIES = ("POSITIVE_CLASS", "NEGATIVE_CLASS", "INVESTIGATION_SEED", "DISPUTED")
#: python-threatexchange / HMA signal type names -> takeback's
TE_TYPES = {
    "pdq": "pdq",
    "md5": "md5",
    "video_md5": "md5",
    "photo_md5": "md5",
    "sha256": "sha256",
    "vpdq": "vpdq",
}
#: ``disable_until_ts`` at or past this reads as disabled with no expiry (and is written for one)
FOREVER_TS = 2**31 - 1


# --- signal strings -------------------------------------------------------------------------------


def te_signal(te_type: str, text: str, *, field: str) -> SignalValue:
    """A python-threatexchange signal string as a takeback signal value."""
    name = TE_TYPES.get(te_type.strip().lower())
    if name is None:
        known = ", ".join(TE_TYPES)
        raise BankError(f"{field}: takeback cannot match {te_type!r} signals (it takes {known}).")
    if name == "vpdq":
        return SignalValue("vpdq", _vpdq_value(text, field=field))
    return signal(name, text, field=field)


def _vpdq_value(text: str, *, field: str) -> bytes:
    from takeback.signals.vpdq import VpdqFrame, pack

    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise BankError(f'{field}: a vpdq signal is a JSON list of "pdq_hex,quality,timestamp" frames.')
    frames = []
    for n, item in enumerate(items):
        parts = item.split(",")
        try:
            hex_hash, quality, ts = parts
            q, t, h = int(quality), float(ts), bytes.fromhex(hex_hash)
        except ValueError:
            raise BankError(
                f"{field}: frame {n + 1} ({item[:80]!r}) is not pdq_hex,quality,timestamp."
            ) from None
        if len(h) != 32 or not 0 <= q <= 100 or not t >= 0 or t > 4e6:
            raise BankError(f"{field}: frame {n + 1} has a bad hash, quality or timestamp.")
        frames.append(VpdqFrame(n, q, h, round(t, 3)))
    return pack(frames)


def te_string(signal_type: str, value: bytes) -> str:
    """A takeback signal value as python-threatexchange writes that type's signal string."""
    if signal_type == "vpdq":
        from takeback.signals.vpdq import unpack

        return json.dumps([f"{f.hash.hex()},{f.quality},{f.timestamp:.3f}" for f in unpack(value)])
    return value.hex()


def _te_name(signal_type: str, view: ContentView, stored: Any) -> str:
    if isinstance(stored, str) and TE_TYPES.get(stored) == signal_type and len(view.signals) == 1:
        return stored
    if signal_type == "md5" and "vpdq" in view.signals:
        return "video_md5"
    return signal_type


# --- te-csv ---------------------------------------------------------------------------------------


def _te_extra(view: ContentView) -> dict[str, Any]:
    extra = view.metadata.get("threatexchange")
    return extra if isinstance(extra, dict) else {}


def write_te_csv(views: Iterable[ContentView], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TE_COLUMNS)
    n = 0
    for v in views:
        extra = _te_extra(v)
        tags = extra.get("tags")
        for name in REGISTRY:
            if name not in v.signals or name not in TE_TYPES.values():
                continue
            writer.writerow(
                [
                    _te_name(name, v, extra.get("signal_type")),
                    te_string(name, v.signals[name][0]),
                    extra.get("collab", v.bank),
                    extra.get("category", "POSITIVE_CLASS"),
                    " ".join(tags) if isinstance(tags, list) else "",
                ]
            )
        n += 1
    return n


def read_te_csv(data: BinaryIO, *, default_source: str) -> Iterator[Row]:
    for line, rec in csv_rows(data, required=("signal_type", "signal_str"), allowed=TE_COLUMNS):
        if isinstance(rec, Problem):
            yield line, str(rec)
            continue
        try:
            yield line, _te_entry(rec, default_source=default_source)
        except TakebackError as exc:
            yield line, exc.message


def _te_entry(rec: dict[str, str], *, default_source: str) -> NewContent:
    sig = te_signal(rec["signal_type"], rec["signal_str"].strip(), field="signal_str")
    category = rec.get("category", "").strip() or "POSITIVE_CLASS"
    if category not in CATEGORIES:
        raise BankError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}.")
    extra: dict[str, Any] = {"signal_type": rec["signal_type"].strip(), "category": category}
    if "collab" in rec:
        extra["collab"] = rec["collab"]
    if "tags" in rec:
        extra["tags"] = rec["tags"].split()
    return NewContent(
        signals=(sig,),
        metadata=check_metadata({"threatexchange": extra}),
        source=default_source,
        enabled=category != "NEGATIVE_CLASS",
    )


# --- hma-json -------------------------------------------------------------------------------------

_HMA_KEYS = frozenset({"id", "bank", "signals", "note", "metadata", "disable_until_ts", "original_media_uri"})


def write_hma_json(views: Iterable[ContentView], out: TextIO) -> int:
    """A JSON array, one object a line (so an error in a hand-edited file points at its line)."""
    n = 0
    out.write("[")
    for v in views:
        meta = dict(v.metadata)
        hma = meta.pop("hma", None)
        rec: dict[str, Any] = {
            "id": v.id,
            "bank": {"name": v.bank},
            "disable_until_ts": _disable_ts(v),
            "original_media_uri": hma.get("original_media_uri") if isinstance(hma, dict) else None,
            "signals": {
                _te_name(name, v, None): te_string(name, v.signals[name][0])
                for name in REGISTRY
                if name in v.signals
            },
        }
        if meta:
            rec["metadata"] = meta
        if v.note is not None:
            rec["note"] = v.note
        out.write(("\n" if n == 0 else ",\n") + json.dumps(rec, ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _disable_ts(v: ContentView) -> int:
    if v.enabled:
        return 0
    if v.disabled_until is None:
        return FOREVER_TS
    return min(FOREVER_TS - 1, max(1, int(v.disabled_until.timestamp())))


def read_hma_json(data: BinaryIO, *, default_source: str) -> Iterator[Row]:
    text = decode_document(data.read())
    if isinstance(text, tuple):
        yield text
        return
    for line, rec in json_array_items(text):
        if isinstance(rec, Problem):
            yield line, str(rec)
            continue
        try:
            yield line, _hma_entry(rec, default_source=default_source)
        except TakebackError as exc:
            yield line, exc.message


def _hma_entry(rec: Any, *, default_source: str) -> NewContent:
    if not isinstance(rec, dict):
        raise BankError("not a JSON object (HMA bank content).")
    unknown = sorted(set(rec) - _HMA_KEYS)
    if unknown:
        raise BankError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}.")
    signals = rec.get("signals")
    if not isinstance(signals, dict) or not signals:
        raise BankError('signals: give an object of signal type -> signal string, e.g. {"pdq": "..."}.')
    values: list[SignalValue] = []
    for te_type, text in signals.items():
        if not isinstance(text, str):
            raise BankError(f"signals.{te_type}: must be text.")
        sig = te_signal(te_type, text.strip(), field=f"signals.{te_type}")
        if any(s.signal_type == sig.signal_type for s in values):
            raise BankError(f"signals: two {sig.signal_type} values for one entry.")
        values.append(sig)
    meta = rec.get("metadata")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise BankError("metadata: must be an object.")
    uri = rec.get("original_media_uri")
    if uri is not None:
        if not isinstance(uri, str):
            raise BankError("original_media_uri: must be text.")
        meta = {**meta, "hma": {"original_media_uri": uri}}
    note = rec.get("note")
    if note is not None and not isinstance(note, str):
        raise BankError("note: must be text.")
    ts = rec.get("disable_until_ts", 0)
    if ts is None:
        ts = 0
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise BankError("disable_until_ts: must be a whole number of seconds since 1970.")
    enabled = ts <= int(datetime.now(UTC).timestamp())
    until = None if enabled or ts >= FOREVER_TS else datetime.fromtimestamp(ts, UTC)
    ordered = tuple(sorted(values, key=lambda s: list(REGISTRY).index(s.signal_type)))
    return with_metadata(
        NewContent(
            signals=ordered,
            note=check_note(note),
            source=default_source,
            enabled=enabled,
            disabled_until=until,
        ),
        **check_metadata(meta),
    )
