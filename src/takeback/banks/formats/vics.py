"""Project VIC VICS JSON, 1.3 (``odata.metadata``, Cases holding Media) and 2.0 (``@odata.context``,
Media at the top), with takeback's extensions as OData instance annotations.

A Media object is one entry: ``MD5`` (and, as extensions, ``@takeback.SHA256``, ``@takeback.PDQ``
with ``@takeback.PDQQuality``, ``@takeback.VPDQ`` as the packed value in hex) are its hashes; the
entry's own fields travel as ``@takeback.Note``, ``.Metadata``, ``.Source``, ``.Enabled``,
``.DisabledUntil``, ``.CreatedAt``, ``.CreatedBy`` and AI provenance as ``@takeback.AIProvenance``
(kept in the metadata as ``ai_provenance``). Every other VICS field (MediaID, Category, Series,
Tags, VictimIdentified, IsDistributed, SHA1, MediaFiles ...) is kept as given in the metadata's
``vics`` object and written back as it was, so a VICS file comes back out the same. takeback
does not match on SHA1: a Media with only a SHA1 is a bad row. VICS 1.3 writes extensions with
``takeback.`` and no ``@`` (OData v3 JSON); both spellings are read in either version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

from takeback.banks.formats.common import Problem, Row, array_items, decode_document, signal
from takeback.banks.models import iso
from takeback.banks.service import BankError, ContentView, NewContent, check_metadata, check_note
from takeback.banks.strictjson import json_problem, loads
from takeback.errors import TakebackError
from takeback.signals import REGISTRY, SignalValue

CONTEXT_20 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"
METADATA_13 = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/$metadata#Cases"

#: extension name -> what it carries
_EXT = (
    "SHA256",
    "PDQ",
    "PDQQuality",
    "VPDQ",
    "AIProvenance",
    "Note",
    "Metadata",
    "Source",
    "Enabled",
    "DisabledUntil",
    "CreatedAt",
    "CreatedBy",
)


def _prefix(version: str) -> str:
    return "@takeback." if version == "2.0" else "takeback."


# --- export ---------------------------------------------------------------------------------------


def _media(v: ContentView, version: str) -> dict[str, Any]:
    meta = dict(v.metadata)
    stored = meta.pop("vics", None)
    ai = meta.pop("ai_provenance", None)
    media: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {"MediaID": v.id, "Category": 0}
    md5 = v.signals.get("md5")
    if md5 is not None:
        media["MD5"] = md5[0].hex().upper()
    else:
        media.pop("MD5", None)
    p = _prefix(version)
    if "sha256" in v.signals:
        media[p + "SHA256"] = v.signals["sha256"][0].hex()
    if "pdq" in v.signals:
        value, quality = v.signals["pdq"]
        media[p + "PDQ"] = value.hex()
        media[p + "PDQQuality"] = quality
    if "vpdq" in v.signals:
        media[p + "VPDQ"] = v.signals["vpdq"][0].hex()
    if ai is not None:
        media[p + "AIProvenance"] = ai
    if v.note is not None:
        media[p + "Note"] = v.note
    if meta:
        media[p + "Metadata"] = meta
    media[p + "Source"] = v.source
    media[p + "Enabled"] = v.enabled
    if v.disabled_until is not None:
        media[p + "DisabledUntil"] = iso(v.disabled_until)
    media[p + "CreatedAt"] = iso(v.created_at)
    media[p + "CreatedBy"] = v.created_by
    return media


def write_vics(views: Iterable[ContentView], out: TextIO, *, version: str, case: str = "takeback") -> int:
    """The whole document, one Media a line, written as it goes (memory stays flat)."""
    if version == "2.0":
        out.write('{"@odata.context": ' + json.dumps(CONTEXT_20) + ', "value": [')
    else:
        out.write(
            '{"odata.metadata": '
            + json.dumps(METADATA_13)
            + ', "value": [{"CaseNumber": '
            + json.dumps(case, ensure_ascii=False)
            + ', "Media": ['
        )
    n = 0
    for v in views:
        out.write(("\n" if n == 0 else ",\n") + json.dumps(_media(v, version), ensure_ascii=False))
        n += 1
    out.write("\n" if n else "")
    out.write("]}\n" if version == "2.0" else "]}]}\n")
    return n


# --- import ---------------------------------------------------------------------------------------


def read_vics(data: BinaryIO, *, version: str, default_source: str) -> Iterator[Row]:
    text = decode_document(data.read())
    if isinstance(text, tuple):
        yield text
        return
    for line, media in _media_items(text, version):
        if isinstance(media, Problem):
            yield line, str(media)
            continue
        try:
            yield line, _entry(media, default_source=default_source)
        except TakebackError as exc:
            yield line, exc.message


def _media_items(text: str, version: str) -> Iterator[tuple[int, Any]]:
    """Each Media object with its line. The document's envelope is parsed whole (VICS files are
    one JSON document); the Media arrays are then walked element by element for their lines."""
    try:
        doc = loads(text)
    except ValueError as exc:
        at = getattr(exc, "lineno", 1)
        yield at, Problem(json_problem(exc))
        return
    key = "@odata.context" if version == "2.0" else "odata.metadata"
    other = "odata.metadata" if version == "2.0" else "@odata.context"
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
        yield 1, Problem('not a VICS document (an object with a "value" list).')
        return
    if key not in doc:
        hint = f" (this looks like VICS {'1.3' if version == '2.0' else '2.0'})" if other in doc else ""
        yield 1, Problem(f"not VICS {version}: no {key!r}{hint}.")
        return
    context = str(doc[key])
    media_lists: list[tuple[str, list[Any]]] = []
    if context.endswith("#Cases") or (version == "1.3" and not context.endswith("#Media")):
        for case in doc["value"]:
            if not isinstance(case, dict) or not isinstance(case.get("Media", []), list):
                yield 1, Problem("a Case's Media must be a list.")
                return
        media_lists = [("Media", c.get("Media", [])) for c in doc["value"]]
    else:
        media_lists = [("value", doc["value"])]
    # Walk the text again for line numbers: the n-th "Media"/"value" array is the n-th list.
    pos = 0
    for name, items in media_lists:
        pos = _find_array(text, name, pos)
        if pos < 0:  # pragma: no cover - parsed above, so the key is there
            yield from ((1, m) for m in items)
            continue
        yield from array_items(text, pos)
        pos += 1


def _find_array(text: str, key: str, start: int) -> int:
    """Position of the ``[`` that opens the next ``"key": [`` at or after ``start``."""
    needle = json.dumps(key)
    at = start
    while True:
        at = text.find(needle, at)
        if at < 0:
            return -1
        j = at + len(needle)
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        if j < len(text) and text[j] == ":":
            j += 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] == "[":
                return j
        at += 1


def _ext(media: dict[str, Any], name: str) -> Any:
    for key in (f"@takeback.{name}", f"takeback.{name}"):
        if key in media:
            return media[key]
    return None


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BankError(f"{field}: must be an ISO 8601 date-time.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BankError(f"{field}: {value!r} is not an ISO 8601 date-time.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _entry(media: Any, *, default_source: str) -> NewContent:
    if not isinstance(media, dict):
        raise BankError("a Media must be a JSON object.")
    both = [n for n in _EXT if f"@takeback.{n}" in media and f"takeback.{n}" in media]
    if both:
        raise BankError(f"@takeback.{both[0]} and takeback.{both[0]} both given.")
    signals: list[SignalValue] = []
    md5 = media.get("MD5")
    if md5 not in (None, ""):
        signals.append(signal("md5", md5, field="MD5"))
    for ext, name in (("SHA256", "sha256"), ("PDQ", "pdq"), ("VPDQ", "vpdq")):
        value = _ext(media, ext)
        if value is not None:
            quality = _ext(media, "PDQQuality") if name == "pdq" else None
            signals.append(signal(name, value, quality, field=f"@takeback.{ext}"))
    if _ext(media, "PDQQuality") is not None and _ext(media, "PDQ") is None:
        raise BankError("@takeback.PDQQuality: given without @takeback.PDQ.")
    if not signals:
        sha1 = " (takeback does not match on SHA1)" if media.get("SHA1") else ""
        raise BankError(f"no hash: give MD5, @takeback.SHA256, @takeback.PDQ or @takeback.VPDQ{sha1}.")
    order = list(REGISTRY)
    signals.sort(key=lambda s: order.index(s.signal_type))
    vics = {k: v for k, v in media.items() if not k.startswith(("@takeback.", "takeback."))}
    meta = _ext(media, "Metadata")
    if meta is not None and not isinstance(meta, dict):
        raise BankError("@takeback.Metadata: must be an object.")
    meta = dict(meta or {})
    meta["vics"] = vics
    ai = _ext(media, "AIProvenance")
    if ai is not None:
        meta["ai_provenance"] = ai
    enabled = _ext(media, "Enabled")
    enabled = True if enabled is None else enabled
    if not isinstance(enabled, bool):
        raise BankError("@takeback.Enabled: must be true or false.")
    note = _ext(media, "Note")
    for name in ("Note", "Source", "CreatedBy"):
        value = _ext(media, name)
        if value is not None and not isinstance(value, str):
            raise BankError(f"@takeback.{name}: must be text.")
    has_source = "@takeback.Source" in media or "takeback.Source" in media
    return NewContent(
        signals=tuple(signals),
        note=check_note(note),
        metadata=check_metadata(meta),
        source=_ext(media, "Source") if has_source else default_source,
        enabled=enabled,
        disabled_until=None if enabled else _time(_ext(media, "DisabledUntil"), "@takeback.DisabledUntil"),
        created_at=_time(_ext(media, "CreatedAt"), "@takeback.CreatedAt"),
        created_by=_ext(media, "CreatedBy") or None,
    )
