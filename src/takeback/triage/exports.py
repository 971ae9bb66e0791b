"""Exports from a case: ``items.csv``, ``items.jsonl``, ``hashes.md5``/``hashes.sha256`` (coreutils
format), a Project VIC VICS 2.0-style JSON, ``custody.jsonl``, and bank entries for a group.

Every export streams from ``case.db`` (flat memory for any case size), is written to a temporary file
and renamed into place, and its SHA-256 goes into the custody log, so ``case verify`` can tell whether
an export was changed after it was made.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.evidence.custody import SqlCustodyStore, write_jsonl
from takeback.signals import SignalValue, get_signal_type
from takeback.signals.fingerprint import Fingerprint
from takeback.triage.casedb import CaseDB
from takeback.triage.models import KNOWN, bank_match, grp, grp_member, item, link

CSV_FIELDS = [
    "id",
    "path",
    "state",
    "size",
    "mtime",
    "media_type",
    "sha256",
    "md5",
    "sha1",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "provenance_tier",
    "provenance",
    "generator",
    "nudity_score",
    "bank_matches",
    "groups",
    "camera",
    "captured",
    "error_code",
    "error_message",
]
VICS_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/$metadata#Media"


def _groups_by_item(s: Session, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    rows = s.execute(
        select(grp_member.c.item_id, grp.c.id, grp.c.kind, grp_member.c.role)
        .join(grp, grp.c.id == grp_member.c.group_id)
        .where(grp_member.c.item_id.in_(ids))
        .order_by(grp.c.id)
    )
    for item_id, gid, kind, role in rows:
        out.setdefault(item_id, []).append(f"{kind}:{gid}" + (f"({role})" if role not in ("member",) else ""))
    return out


def _matches_by_item(s: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    for m in s.execute(select(bank_match).where(bank_match.c.item_id.in_(ids)).order_by(bank_match.c.id)):
        out.setdefault(m.item_id, []).append(
            {
                "bank": m.bank,
                "content_id": m.content_id,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "threshold": m.threshold,
                "orientation": m.orientation,
                "allow_list": m.allow_list,
                "suppressed": m.suppressed,
                "explanation": m.explanation,
            }
        )
    return out


def iter_items(case: CaseDB, *, chunk: int = 2000) -> Iterator[tuple[Any, list[str], list[dict[str, Any]]]]:
    """Every item with its groups and bank matches, in id order, a chunk at a time."""
    after = 0
    while True:
        with case.session() as s:
            rows = s.execute(select(item).where(item.c.id > after).order_by(item.c.id).limit(chunk)).all()
            if not rows:
                return
            ids = [r.id for r in rows]
            groups = _groups_by_item(s, ids)
            matches = _matches_by_item(s, ids)
        for r in rows:
            yield r, groups.get(r.id, []), matches.get(r.id, [])
        after = rows[-1].id


def item_json(r: Any, groups: list[str], matches: list[dict[str, Any]]) -> dict[str, Any]:
    from takeback.triage.video import unpack

    frames = unpack(bytes(r.vpdq)) if r.vpdq else []
    return {
        "id": r.id,
        "path": r.path,
        "state": r.state,
        "source": r.source_id,
        "parent": r.parent_id,
        "size": r.size,
        "mtime": r.mtime,
        "ctime": r.ctime,
        "atime": r.atime,
        "media_type": r.media_type,
        "kind": r.kind,
        "sha256": r.sha256,
        "md5": r.md5,
        "sha1": r.sha1,
        "pdq": r.pdq,
        "pdq_quality": r.pdq_quality,
        "pdq_dihedral": r.pdq_dihedral.split() if r.pdq_dihedral else None,
        "width": r.width,
        "height": r.height,
        "duration_ms": r.duration_ms,
        "vpdq": [f.to_text() for f in frames] if frames else None,
        "provenance": r.provenance,
        "provenance_tier": r.tier,
        "ai_indicated": r.ai,
        "generator": r.generator,
        "nudity_score": r.nudity,
        "nudity_explicit": r.explicit,
        "exif": r.exif,
        "traces": r.traces,
        "known_lists": r.known,
        "bank_matches": matches,
        "groups": groups,
        "error": None if r.error_code is None else {"code": r.error_code, "message": r.error_message},
        "warnings": r.warnings,
        "processed_at": r.processed_at,
        "record_sha256": r.record_sha256,
    }


def _camera(r: Any) -> str:
    exif = r.exif or {}
    return " ".join(str(exif[k]) for k in ("Make", "Model") if exif.get(k))


def csv_row(r: Any, groups: list[str], matches: list[dict[str, Any]]) -> dict[str, Any]:
    live = [m for m in matches if not m["allow_list"] and not m["suppressed"]]
    return {
        "id": r.id,
        "path": r.path,
        "state": r.state,
        "size": r.size,
        "mtime": r.mtime,
        "media_type": r.media_type,
        "sha256": r.sha256,
        "md5": r.md5,
        "sha1": r.sha1,
        "pdq": r.pdq,
        "pdq_quality": r.pdq_quality,
        "width": r.width,
        "height": r.height,
        "provenance_tier": r.tier,
        "provenance": r.headline,
        "generator": r.generator,
        "nudity_score": r.nudity,
        "bank_matches": "; ".join(
            f"{m['bank']}#{m['content_id']} ({m['signal_type']} {m['distance']})" for m in live
        ),
        "groups": " ".join(groups),
        "camera": _camera(r),
        "captured": (r.exif or {}).get("DateTimeOriginal"),
        "error_code": r.error_code,
        "error_message": r.error_message,
    }


def coreutils_line(digest: str, raw_path: bytes) -> bytes:
    """``<hex>  <name>`` as md5sum/sha256sum write it: names with a backslash or newline are escaped
    and the line starts with a backslash. Names are written as their bytes (any encoding)."""
    if b"\\" in raw_path or b"\n" in raw_path or b"\r" in raw_path:
        escaped = raw_path.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
        return b"\\" + digest.encode() + b"  " + escaped + b"\n"
    return digest.encode() + b"  " + raw_path + b"\n"


def _vics_media(r: Any, groups: list[str], matches: list[dict[str, Any]]) -> dict[str, Any]:
    exif = r.exif or {}
    tags = [f"takeback:{g}" for g in groups]
    if r.ai:
        tags.append("takeback:ai-indicated")
    if r.explicit:
        tags.append("takeback:nudity-flag")
    if any(not m["allow_list"] and not m["suppressed"] for m in matches):
        tags.append("takeback:bank-match")
    media: dict[str, Any] = {
        "MediaID": r.id,
        # VICS categories are for child sexual abuse material; takeback never assigns one.
        # 0 = uncategorised: the examiner categorises in their own tool.
        "Category": 0,
        "MD5": r.md5.upper() if r.md5 else None,
        "SHA1": r.sha1.upper() if r.sha1 else None,
        "MediaSize": r.size,
        "IsPrecategorized": False,
        "Tags": tags,
        "MediaFiles": [
            {
                "MediaFileID": r.id,
                "FileName": r.name,
                "FilePath": r.path,
                "Written": r.mtime,
                "Accessed": r.atime,
                "Created": r.ctime,
            }
        ],
        "Exifs": [
            {"PropertyName": k, "PropertyValue": str(v)} for k, v in sorted(exif.items()) if k != "GPS"
        ],
        # Extensions (OData instance annotations): takeback's own fields.
        "@takeback.SHA256": r.sha256,
        "@takeback.PDQ": r.pdq,
        "@takeback.PDQQuality": r.pdq_quality,
        "@takeback.AIProvenance": {
            "tier": r.tier,
            "headline": r.headline,
            "generator": r.generator,
            "indicated": bool(r.ai),
        },
        "@takeback.NudityScore": r.nudity,
    }
    if exif.get("GPS"):
        media["@takeback.GPS"] = exif["GPS"]
    return media


class _Writer:
    """Write ``path`` atomically and hash what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.fh: IO[bytes] = open(self.tmp, "wb")  # noqa: SIM115 (closed in finish/abort)
        self.sha = hashlib.sha256()
        self.rows = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.sha.update(data)

    def finish(self) -> tuple[str, int]:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)
        return self.sha.hexdigest(), self.rows

    def abort(self) -> None:
        self.fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _export(path: Path, body: Callable[[_Writer], None]) -> tuple[str, int]:
    w = _Writer(path)
    try:
        body(w)
    except BaseException:
        w.abort()
        raise
    return w.finish()


def write_exports(case: CaseDB) -> dict[str, tuple[str, int]]:
    """Write every export into the case folder; returns {file name: (sha256, rows)}."""
    folder = case.folder
    out: dict[str, tuple[str, int]] = {}

    def items_csv(w: _Writer) -> None:
        buf = io.StringIO()
        cw = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        cw.writeheader()
        for r, g, m in iter_items(case):
            cw.writerow({k: "" if v is None else v for k, v in csv_row(r, g, m).items()})
            w.rows += 1
            if buf.tell() > 1 << 16:
                w.write(buf.getvalue().encode("utf-8"))
                buf.seek(0)
                buf.truncate()
        w.write(buf.getvalue().encode("utf-8"))

    def items_jsonl(w: _Writer) -> None:
        for r, g, m in iter_items(case):
            w.write(
                json.dumps(item_json(r, g, m), ensure_ascii=False, sort_keys=False).encode("utf-8") + b"\n"
            )
            w.rows += 1

    def hashes(alg: str) -> Callable[[_Writer], None]:
        def body(w: _Writer) -> None:
            for r, _, _ in iter_items(case):
                digest = getattr(r, alg)
                if digest:
                    w.write(coreutils_line(digest, bytes(r.raw_path)))
                    w.rows += 1

        return body

    def vics(w: _Writer) -> None:
        w.write(b'{"@odata.context":' + json.dumps(VICS_CONTEXT).encode() + b',"value":[')
        first = True
        for r, g, m in iter_items(case):
            if r.state == KNOWN or not r.md5:
                continue
            w.write(
                (b"" if first else b",")
                + b"\n"
                + json.dumps(_vics_media(r, g, m), ensure_ascii=False).encode("utf-8")
            )
            first = False
            w.rows += 1
        w.write(b"\n]}\n")

    def custody(w: _Writer) -> None:
        with case.session() as s:
            entries = list(SqlCustodyStore(s, case.log_id).entries())
        buf = io.BytesIO()
        w.rows = write_jsonl(entries, buf)
        w.write(buf.getvalue())

    for name, body in (
        ("items.csv", items_csv),
        ("items.jsonl", items_jsonl),
        ("hashes.md5", hashes("md5")),
        ("hashes.sha256", hashes("sha256")),
        ("vics.json", vics),
        ("custody.jsonl", custody),
    ):
        out[name] = _export(folder / name, body)
    return out


#: Why a case's image or video was left out of a bank import (``BankSelection.left_out``).
NOT_FLAGGED = "not_flagged"  # no AI provenance, nudity, derivative link or bank match
SOURCE_PICTURE = "source_picture"  # the source of a derivative: usually the person's own photo
ALLOW_LISTED = "allow_listed"  # matched an allow-list bank: known benign
#: What the scan flagged an item for (``scan_flags`` in the entry's metadata).
FLAG_AI, FLAG_NUDITY, FLAG_DERIVATIVE, FLAG_BANK = "ai", "nudity", "derivative", "bank_match"


@dataclass
class BankSelection:
    """What a bank import from a case takes, and what it leaves out and why (counts, for a person)."""

    entries: list[Any]  # banks.service.NewContent
    considered: int  # images and videos (not known files) in the case or group
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> items
    pdq_left_out: int = 0  # imported items whose PDQ (quality < 50) was left out; exact hashes kept
    flagged: dict[str, int] = field(default_factory=dict)  # flag -> imported items carrying it


def bank_entries(
    case: CaseDB,
    *,
    group: int | None,
    all_items: bool = False,
    include_low_quality: bool = False,
) -> BankSelection:
    """Bank entries (fingerprints only: PDQ, MD5, SHA-256, and vPDQ for videos; no file names, no
    pixels) for the images and videos of one group, or of the whole case.

    By default only what the scan flagged: AI provenance (tier 1-2), the nudity detector, the
    derivative side of a directed source -> derivative link, a block-bank match. A seized folder also
    holds the person's own photos (often the sources the fakes were made from); blocking those
    everywhere is not what anyone asked for, so ``all_items`` must say so. An allow-listed item is
    known benign and left out too. A PDQ of quality below 50 matches unrelated flat pictures, so it
    is left out (the item's SHA-256 and MD5 still go in) unless ``include_low_quality``. Known
    (excluded) files are never included. A video's vPDQ is the scan's (about one frame a second, no
    border-cropped frames): copies and re-encodes match it; ``takeback bank add`` keeps every frame."""
    from takeback.banks.service import NewContent
    from takeback.triage.video import bank_value

    with case.session() as s:
        stmt = select(item).where(
            item.c.state != KNOWN, item.c.sha256.is_not(None), item.c.kind.in_(("image", "video"))
        )
        if group is not None:
            stmt = stmt.join(grp_member, grp_member.c.item_id == item.c.id).where(
                grp_member.c.group_id == group
            )
        rows = s.execute(stmt.order_by(item.c.id)).all()
        derived: set[int] = set()
        sources: set[int] = set()
        for src, dst in s.execute(select(link.c.source_item, link.c.derived_item).where(link.c.directed)):
            sources.add(src)
            derived.add(dst)
        blocked: set[int] = set()
        allowed: set[int] = set()
        for item_id, allow in s.execute(
            select(bank_match.c.item_id, bank_match.c.allow_list).where(bank_match.c.suppressed.is_(False))
        ):
            (allowed if allow else blocked).add(item_id)
    selection = BankSelection(entries=[], considered=len(rows))
    for r in rows:
        flags = [
            f
            for f, on in (
                (FLAG_AI, bool(r.ai)),
                (FLAG_NUDITY, bool(r.explicit)),
                (FLAG_DERIVATIVE, r.id in derived),
                (FLAG_BANK, r.id in blocked),
            )
            if on
        ]
        if not all_items:
            reason = (
                ALLOW_LISTED
                if r.id in allowed
                else None
                if flags
                else SOURCE_PICTURE
                if r.id in sources
                else NOT_FLAGGED
            )
            if reason is not None:
                selection.left_out[reason] = selection.left_out.get(reason, 0) + 1
                continue
        signals = []
        for v in Fingerprint.from_record(dict(r._mapping)).values():  # the row's hex read back as bytes
            if include_low_quality or not get_signal_type(v.signal_type).is_low_quality(v.quality):
                signals.append(SignalValue(v.signal_type, v.value, v.quality))
            else:
                selection.pdq_left_out += 1
        vpdq = bank_value(bytes(r.vpdq), r.duration_ms) if r.vpdq else None
        if vpdq is not None:
            signals.append(SignalValue("vpdq", vpdq))
        for f in flags:
            selection.flagged[f] = selection.flagged.get(f, 0) + 1
        selection.entries.append(
            NewContent(
                signals=tuple(signals),
                note=None,
                metadata={"scan_case": case.case_id, "item": r.id}
                | ({"group": group} if group is not None else {})
                | ({"scan_flags": ",".join(flags)} if flags else {}),
                source=f"takeback scan case {case.case_id}",
            )
        )
    return selection
