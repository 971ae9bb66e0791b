"""Signed evidence bundles: export a case as one ZIP, and verify one.

A bundle holds::

    manifest.json     every item (the record custody sealed), referrals, takedowns, the custody head,
                      and the SHA-256 and size of every other member
    manifest.sig      Ed25519 signature of manifest.json (and the public key)
    custody.jsonl     the case's custody log, one entry per line
    summary.html      human-readable summary (self-contained)
    summary.pdf       the same, for printing
    originals/NNNN.ext  the originals, only with --with-originals (unencrypted: see ORIGINALS_WARNING)
    <key>/...         a supplement's files (``Supplement``): records of the case held outside the
                      locker, e.g. ``portal/`` (her submissions' signed receipts, her encrypted files)

and a ZIP comment ``TAKEBACK-BUNDLE-SIG-V1 <signature>`` that signs every byte of the file before
the comment (headers, central directory and all): members are verified one by one so that
``verify`` can name what fails, and the container signature catches a change anywhere else.

Export never leaves a half-written bundle: it writes a temporary file and renames it at the end.
If the case is deleted while the bundle is exported, the export stops and writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback import __version__
from takeback.cases.models import Case
from takeback.cases.service import get_case, referrals, response_times, takedowns
from takeback.clock import as_utc, format_local, from_iso_utc, iso_utc, utcnow
from takeback.evidence.custody import (
    CustodyEntry,
    CustodyFailure,
    SqlCustodyStore,
    canonical_json,
    read_jsonl,
    verify_entries,
)
from takeback.evidence.errors import EvidenceError, LockerError
from takeback.evidence.locker import Locker
from takeback.evidence.models import EvidenceItem, item_record
from takeback.evidence.receipts import ReceiptError, parse_receipt
from takeback.evidence.service import custody_log
from takeback.evidence.signing import PublicKey, Signer, b64, unb64
from takeback.guidance.kb import load_kb
from takeback.guidance.pathway import DISCLAIMER
from takeback.i18n import text_for, translate
from takeback.reports import Document, Heading, KeyValues, Notice, Paragraph, Table, pdf_bytes, render_html
from takeback.reports.document import Block
from takeback.signals.pdq import LOW_QUALITY
from takeback.store import Database, record_audit

FORMAT = "takeback-evidence-bundle"
VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
CUSTODY = "custody.jsonl"
SUMMARY_HTML = "summary.html"
SUMMARY_PDF = "summary.pdf"
MANIFEST_DOMAIN = b"takeback-bundle-manifest-v1\x00"
CONTAINER_DOMAIN = b"takeback-bundle-container-v1\x00"
COMMENT_PREFIX = b"TAKEBACK-BUNDLE-SIG-V1 "
COMMENT_LEN = len(COMMENT_PREFIX) + 88  # base64 of a 64-byte signature
_CHUNK = 1 << 20
_EXT = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "text/html": ".html",
}


@dataclass
class ExportResult:
    path: Path
    items: int
    originals: int
    bytes: int
    sha256: str
    custody_head: str


# --- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supplement:
    """Records of a case kept outside the locker (her portal submissions, say), built by a layer
    above evidence in the same transaction as the rest of the snapshot, so that the bundle is one
    consistent picture while evidence knows nothing of the portal.

    ``records`` go into the signed manifest under ``supplements[key]``; ``files`` become members
    ``<key>/<name>`` (hashed like every member); ``receipts`` names the files that are signed hash
    receipts and the SHA-256 each vouches for, which ``verify`` checks (signature, the bundle's own
    key, the hash); ``blocks`` is what the summary shows of them, in the bundle's language.
    """

    key: str
    records: dict[str, list[dict[str, Any]]]
    files: dict[str, bytes] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict)
    blocks: tuple[Block, ...] = ()


SupplementSource = Callable[[Session, Case, str], Sequence[Supplement]]


@dataclass
class _Snapshot:
    case: dict[str, Any]
    items: list[dict[str, Any]]
    blobs: dict[int, str]
    referrals: list[dict[str, Any]]
    takedowns: list[dict[str, Any]]
    custody: list[CustodyEntry]
    timezone: str
    reference: str
    case_id: int
    supplements: list[Supplement] = field(default_factory=list)


def _snapshot(db: Database, reference: str, source: SupplementSource | None, lang: str) -> _Snapshot:
    """Everything the bundle shows, read in one transaction so it is consistent."""
    with db.session() as s:
        case = get_case(s, reference=reference)
        supplements = list(source(s, case, lang)) if source is not None else []
        items = list(
            s.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id))
        )
        custody = list(SqlCustodyStore(s, case.custody_log_id).entries())
        return _Snapshot(
            case={
                "reference": case.reference,
                "alias": case.alias,
                "jurisdiction": case.jurisdiction,
                "victim_age": case.victim_age,
                "setting": case.setting,
                "timezone": case.timezone,
                "incident_date": case.incident_date.isoformat() if case.incident_date else None,
                "created_at": iso_utc(as_utc(case.created_at)),
            },
            items=[
                {
                    **item_record(it, case.reference),
                    "record_sha256": it.record_sha256,
                    "custody_seq": it.custody_seq,
                }
                for it in items
            ],
            blobs={it.id: it.blob_id for it in items if it.blob_id},
            referrals=[
                {
                    "id": r.id,
                    "channel": r.channel,
                    "status": r.status,
                    "sent_at": iso_utc(as_utc(r.sent_at)) if r.sent_at else None,
                    "reference_number": r.reference_number,
                }
                for r in referrals(s, case=case)
            ],
            takedowns=[
                {
                    "id": t.id,
                    "url": t.url,
                    "platform": t.platform,
                    "via": t.via,
                    "status": t.status,
                    "sent_at": iso_utc(as_utc(t.sent_at)),
                    "reference_number": t.reference_number,
                    **response_times(t),
                }
                for t in takedowns(s, case=case)
            ],
            custody=custody,
            timezone=case.timezone,
            reference=case.reference,
            case_id=case.id,
            supplements=supplements,
        )


def _case_gone(db: Database, case_id: int) -> bool:
    with db.session() as s:
        case = s.get(Case, case_id)
        return case is None or case.deleted_at is not None


def _original_name(item: dict[str, Any]) -> str:
    ext = _EXT.get((item.get("media_type") or "").split(";")[0], ".bin")
    return f"originals/{int(item['id']):04d}{ext}"


def _status(value: str, lang: str) -> str:
    return text_for(f"status.{value}", lang, value)


def _action(value: str, lang: str) -> str:
    return text_for(f"custody.action.{value}", lang, value)


def _channel(channel_id: str, lang: str) -> str:
    ch = load_kb().channel(channel_id)
    return ch.name.get(lang) if ch is not None else channel_id


def _l(key: str, lang: str, **kw: str) -> str:
    """The summary's words: ``bundle.<key>`` of the one catalogue (``takeback.i18n``)."""
    return translate(f"bundle.{key}", lang, **kw)


def summary_document(
    manifest: dict[str, Any], custody: list[CustodyEntry], lang: str, extra: Sequence[Block] = ()
) -> Document:
    case = manifest["case"]
    zone = case["timezone"]
    doc = Document(
        title=_l("title", lang, ref=case["reference"]),
        lang=lang,
        subtitle=" · ".join(
            (format_local(from_iso_utc(manifest["created_at"]), zone), f"takeback {manifest['tool_version']}")
        ),
        footer=DISCLAIMER.get(lang),
    )
    fp = manifest["signing_key"]["fingerprint"]
    doc.add(Notice(_l("custody", lang), [_l("verify", lang, fp=fp)], tone="info"))
    if manifest["hashes_only"]:
        doc.add(Notice(_l("items", lang), [_l("hashes_only", lang)], tone="info"))
    else:
        doc.add(Notice(_l("items", lang), [_l("originals", lang)], tone="danger"))
    labels = _l("kv", lang).split("|")
    values = [
        case["reference"],
        case["jurisdiction"],
        zone,
        format_local(from_iso_utc(case["created_at"]), zone),
        str(len(manifest["items"])),
        manifest["custody"]["head"],
    ]
    doc.add(Heading(_l("case", lang)), KeyValues(list(zip(labels, values, strict=True))))

    def when(text: str | None) -> str:
        if not text:
            return ""
        return format_local(from_iso_utc(text), zone)

    rows = []
    for it in manifest["items"]:
        source = " · ".join(
            x for x in (it.get("platform"), it.get("account"), it.get("url") or it.get("original_name")) if x
        )
        rows.append(
            [
                str(it["id"]),
                when(it["captured_at"]),
                when(it["posted_at"]),
                source,
                it.get("sha256") or "",
                _pdq_cell(it, lang),
            ]
        )
    doc.add(Heading(_l("items", lang)))
    doc.add(
        Table(
            _l("cols_items", lang).split("|"),
            rows,
            widths=[0.5, 1.6, 1.6, 2.4, 2.6, 2.6],
            mono=frozenset({4, 5}),
        )
        if rows
        else Paragraph(_l("no_items", lang), style="muted")
    )
    doc.add(*extra)
    if manifest["referrals"]:
        doc.add(
            Heading(_l("reports", lang)),
            Table(
                _l("cols_ref", lang).split("|"),
                [
                    [
                        _channel(r["channel"], lang),
                        _status(r["status"], lang),
                        when(r["sent_at"]),
                        r["reference_number"] or "",
                    ]
                    for r in manifest["referrals"]
                ],
            ),
        )
    if manifest["takedowns"]:
        doc.add(
            Heading(_l("takedowns", lang)),
            Table(
                _l("cols_td", lang).split("|"),
                [
                    [
                        t["url"],
                        _status(t["status"], lang),
                        when(t["sent_at"]),
                        "" if t["first_response_hours"] is None else str(t["first_response_hours"]),
                        "" if t["resolution_hours"] is None else str(t["resolution_hours"]),
                        t["reference_number"] or "",
                    ]
                    for t in manifest["takedowns"]
                ],
                widths=[3, 1, 1.6, 1, 1, 1.2],
            ),
        )
    doc.add(
        Heading(_l("custody", lang)),
        Table(
            _l("cols_custody", lang).split("|"),
            # to the second, in UTC as the heading says (custody.jsonl keeps the exact times)
            [
                [
                    str(e.seq),
                    f"{from_iso_utc(e.at):%Y-%m-%d %H:%M:%S}",
                    _action(e.action, lang),
                    e.actor,
                    e.hash,
                ]
                for e in custody
            ],
            widths=[0.4, 1.9, 1.3, 1.2, 3.2],
            mono=frozenset({4}),
        ),
    )
    doc.add(Paragraph(DISCLAIMER.get(lang), style="small"))
    return doc


def _pdq_cell(item: dict[str, Any], lang: str) -> str:
    """The PDQ as a person reads it: a hash of quality below 50 says that it is unreliable."""
    pdq, quality = item.get("pdq"), item.get("pdq_quality")
    if not pdq:
        return ""
    low = quality is not None and quality < LOW_QUALITY
    return str(pdq) + (_l("low_quality", lang, q=str(quality)) if low else "")


def export_bundle(
    db: Database,
    *,
    reference: str,
    out: Path,
    signer: Signer,
    actor: str,
    locker: Locker | None = None,
    with_originals: bool = False,
    lang: str = "en",
    progress: Callable[[str], None] | None = None,
    supplements: SupplementSource | None = None,
) -> ExportResult:
    """Write a signed bundle for a case to ``out`` (atomically).

    Fingerprints and context only unless ``with_originals``: the originals leave the locker
    unencrypted inside the ZIP, so they are included only when asked for (and need an open ``locker``).
    ``supplements`` adds records held outside the locker (``Supplement``).
    """
    hashes_only = not with_originals
    snap = _snapshot(db, reference, supplements, lang)
    if not hashes_only and snap.blobs and locker is None:
        raise EvidenceError(
            "Including the originals needs the locker passphrase (or leave out --with-originals).",
            code="locker_needed",
        )
    tick = progress or (lambda _step: None)
    out = out.resolve()
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    members: dict[str, dict[str, Any]] = {}
    try:
        with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:

            def add_bytes(name: str, data: bytes) -> None:
                info = _zinfo(name)
                zf.writestr(info, data)
                members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

            items = snap.items
            for it in items:
                it["file"] = None
                blob = snap.blobs.get(int(it["id"]))
                if hashes_only or blob is None:
                    continue
                assert locker is not None
                name = _original_name(it)
                tick(f"original {it['id']}")
                sha = hashlib.sha256()
                size = 0
                try:
                    with zf.open(_zinfo(name), "w", force_zip64=True) as dst:
                        for chunk in locker.iter_plaintext(blob):
                            dst.write(chunk)
                            sha.update(chunk)
                            size += len(chunk)
                except LockerError as exc:
                    if _case_gone(db, snap.case_id):
                        raise _deleted(snap.reference) from None
                    raise exc
                if sha.hexdigest() != it["sha256"]:
                    raise EvidenceError(
                        f"The original of item {it['id']} in the locker does not match its recorded SHA-256.",
                        code="blob_hash_mismatch",
                    )
                members[name] = {"sha256": sha.hexdigest(), "size": size}
                it["file"] = name
            tick("custody")
            buf = io.BytesIO()
            from takeback.evidence.custody import write_jsonl

            write_jsonl(snap.custody, buf)
            add_bytes(CUSTODY, buf.getvalue())
            extra_blocks: list[Block] = []
            for sup in snap.supplements:
                for fname, data in sorted(sup.files.items()):
                    add_bytes(f"{sup.key}/{fname}", data)
                extra_blocks.extend(sup.blocks)
            head = snap.custody[-1].hash if snap.custody else "0" * 64
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "bundle_id": secrets.token_hex(16),
                "created_at": iso_utc(utcnow()),
                "created_by": actor,
                "tool_version": __version__,
                "lang": lang,
                "hashes_only": hashes_only,
                "case": snap.case,
                "items": items,
                "referrals": snap.referrals,
                "takedowns": snap.takedowns,
                "custody": {
                    "file": CUSTODY,
                    "log": f"case:{snap.reference}",
                    "entries": len(snap.custody),
                    "head": head,
                },
                "signing_key": {
                    "public_key": signer.public.to_b64(),
                    "key_id": signer.key_id,
                    "fingerprint": signer.public.fingerprint,
                },
                "notice": DISCLAIMER.get(lang),
            }
            if snap.supplements:
                manifest["supplements"] = {
                    sup.key: {
                        "records": sup.records,
                        "receipts": {f"{sup.key}/{n}": sha for n, sha in sorted(sup.receipts.items())},
                    }
                    for sup in snap.supplements
                }
            tick("summary")
            doc = summary_document({**manifest, "items": items}, snap.custody, lang, extra_blocks)
            add_bytes(SUMMARY_HTML, render_html(doc).encode("utf-8"))
            add_bytes(SUMMARY_PDF, pdf_bytes(doc))
            manifest["members"] = dict(sorted(members.items()))
            data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
            if _case_gone(db, snap.case_id):
                raise _deleted(snap.reference)
            zf.writestr(_zinfo(MANIFEST), data)
            sig = signer.sign(MANIFEST_DOMAIN + data)
            sig_doc = {"alg": "Ed25519", "public_key": signer.public.to_b64(), "signature": b64(sig)}
            zf.writestr(_zinfo(MANIFEST_SIG), json.dumps(sig_doc, indent=2).encode())
            zf.comment = COMMENT_PREFIX + b"=" * 88
        _sign_container(tmp, signer)
        digest = _file_sha256(tmp)
        with db.session() as s:
            case = s.get(Case, snap.case_id)
            if case is None or case.deleted_at is not None:
                raise _deleted(snap.reference)
            custody_log(s, case, signer).append(
                actor=actor,
                action="bundle.exported",
                subject=f"bundle:{manifest['bundle_id']}",
                details={
                    "bundle_sha256": digest,
                    "custody_head": head,
                    "items": len(items),
                    "hashes_only": hashes_only,
                    **(
                        {
                            "supplements": {
                                sup.key: sum(map(len, sup.records.values())) for sup in snap.supplements
                            }
                        }
                        if snap.supplements
                        else {}
                    ),
                },
            )
            record_audit(
                s,
                actor=actor,
                action="evidence.bundle",
                object_type="case",
                object_id=snap.reference,
                details={"items": len(items), "hashes_only": hashes_only},
            )
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    originals = sum(1 for it in items if it["file"])
    return ExportResult(out, len(items), originals, out.stat().st_size, digest, head)


def _deleted(reference: str) -> EvidenceError:
    return EvidenceError(
        f"Case {reference} was deleted while the bundle was being exported; no bundle was written.",
        code="case_deleted_during_export",
    )


def _zinfo(name: str) -> zipfile.ZipInfo:
    """Fixed timestamps and attributes: the bundle's bytes depend only on its content and signatures.

    Members are stored, not deflated: then every byte of a member's data is its content, so a
    changed byte is always reported against the member it is in (a deflate stream can hide a
    flipped padding bit that changes nothing once inflated; the container signature would still
    catch it, but could not say where).
    """
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _prefix_sha256(path: Path, length: int) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        left = length
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.digest()


def _sign_container(path: Path, signer: Signer) -> None:
    size = path.stat().st_size
    covered = size - (COMMENT_LEN - len(COMMENT_PREFIX))
    sig = signer.sign(CONTAINER_DOMAIN + _prefix_sha256(path, covered))
    with open(path, "r+b") as fh:
        fh.seek(covered)
        fh.write(b64(sig).encode("ascii"))


# --- verify ---------------------------------------------------------------------------------------


@dataclass
class Finding:
    code: str
    member: str | None
    message: str


@dataclass
class VerifyReport:
    ok: bool
    path: Path
    checks: list[str] = field(default_factory=list)
    failure: Finding | None = None
    key: PublicKey | None = None
    items: int = 0
    originals: int = 0
    custody_entries: int = 0
    hashes_only: bool | None = None
    reference: str | None = None
    #: a supplement's key -> how many records it holds (``portal``: her submissions, log, files)
    supplements: dict[str, int] = field(default_factory=dict)


class _FailError(Exception):
    def __init__(self, code: str, member: str | None, message: str) -> None:
        super().__init__(message)
        self.finding = Finding(code, member, message)


_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _read_member(zf: zipfile.ZipFile, name: str, limit: int = 256 << 20) -> bytes:
    try:
        with zf.open(name) as fh:
            data = fh.read(limit + 1)
    except KeyError:
        raise _FailError("member_missing", name, f"{name} is missing from the bundle.") from None
    except _READ_ERRORS as exc:
        raise _FailError("member_corrupt", name, f"{name} cannot be read: {exc}") from None
    if len(data) > limit:
        raise _FailError("member_too_large", name, f"{name} is larger than expected.")
    return data


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
    except KeyError:
        raise _FailError("member_missing", name, f"{name} is missing from the bundle.") from None
    except _READ_ERRORS as exc:
        raise _FailError("member_corrupt", name, f"{name} is damaged: {exc}") from None
    return h.hexdigest(), n


def _verify_supplements(
    zf: zipfile.ZipFile,
    manifest: dict[str, Any],
    listed: dict[str, dict[str, Any]],
    key: PublicKey,
    report: VerifyReport,
) -> None:
    """Each supplement's receipts: a member the manifest lists, a receipt signed by the bundle's
    own key for the case, vouching for the SHA-256 the manifest gives (so a receipt cannot be
    swapped for another file's, nor a record's hash changed without the manifest signature failing)."""
    sups = manifest.get("supplements") or {}
    if not isinstance(sups, dict):
        raise _FailError("manifest_invalid", MANIFEST, "manifest.json's supplements are malformed.")
    checked = 0
    for name, sup in sorted(sups.items()):
        if not isinstance(sup, dict) or not isinstance(sup.get("records"), dict):
            raise _FailError(
                "manifest_invalid", MANIFEST, f"manifest.json's supplement {name!r} is malformed."
            )
        report.supplements[str(name)] = sum(len(v) for v in sup["records"].values() if isinstance(v, list))
        for member, sha in sorted((sup.get("receipts") or {}).items()):
            if member not in listed:
                raise _FailError(
                    "member_missing", member, f"{member} is named as a receipt but is not in the bundle."
                )
            try:
                r = parse_receipt(_read_member(zf, member, limit=64 << 10))
            except ReceiptError as exc:
                raise _FailError("receipt_invalid", member, f"{member}: {exc.message}") from None
            if not r.key.verify(r.signature, r.signed_text().encode("ascii")):
                raise _FailError(
                    "receipt_invalid", member, f"{member}: its signature does not match its contents."
                )
            if r.key.to_b64() != key.to_b64():
                raise _FailError(
                    "receipt_invalid", member, f"{member} is signed by another key than the bundle."
                )
            if r.sha256 != sha or r.case != manifest.get("case", {}).get("reference"):
                raise _FailError(
                    "receipt_invalid",
                    member,
                    f"{member} vouches for another file or case than the manifest says.",
                )
            checked += 1
    if sups:
        report.checks.append(f"{checked} receipts of records held outside the locker")


def verify_bundle(path: Path, *, trusted_key: str | None = None) -> VerifyReport:
    """Check every hash, the custody chain and the signatures; stop at the first thing that fails.

    ``trusted_key`` (a key id, full fingerprint or base64 public key) pins who must have signed.
    """
    report = VerifyReport(ok=False, path=path)
    try:
        _verify(path, report, trusted_key)
    except _FailError as f:
        report.failure = f.finding
        return report
    report.ok = True
    return report


def _verify(path: Path, report: VerifyReport, trusted_key: str | None) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _FailError("bundle_unreadable", None, f"Cannot read {path}: {exc.strerror or exc}.") from None
    with open(path, "rb") as fh:
        head = fh.read(4)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if head == b"PK\x03\x04":
            raise _FailError(
                "bundle_truncated",
                None,
                f"The bundle is truncated or its directory is damaged ({size:,} bytes; the ZIP end record is "
                f"missing or wrong): {exc}. Ask the sender for a new copy.",
            ) from None
        raise _FailError(
            "bundle_not_zip", None, f"{path} is not a takeback bundle (not a ZIP file)."
        ) from None
    with zf:
        names = [i.filename for i in zf.infolist()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _FailError(
                "member_duplicate", dupes[0], f"{dupes[0]} appears more than once in the bundle."
            )
        raw = _read_member(zf, MANIFEST)
        try:
            manifest = json.loads(raw)
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                raise ValueError("format")
        except (ValueError, AttributeError):
            raise _FailError(
                "manifest_invalid", MANIFEST, "manifest.json is not a takeback bundle manifest."
            ) from None
        sig_raw = _read_member(zf, MANIFEST_SIG)
        try:
            sig_doc = json.loads(sig_raw)
            key = PublicKey.from_b64(sig_doc["public_key"])
            signature = unb64(sig_doc["signature"])
        except (ValueError, KeyError, TypeError):
            raise _FailError(
                "manifest_signature_invalid", MANIFEST_SIG, "manifest.sig cannot be read."
            ) from None
        if not key.verify(signature, MANIFEST_DOMAIN + raw):
            raise _FailError(
                "manifest_signature_invalid",
                MANIFEST,
                "manifest.json does not match its signature: the manifest was changed.",
            )
        if manifest.get("signing_key", {}).get("public_key") != sig_doc["public_key"]:
            raise _FailError(
                "manifest_signature_invalid", MANIFEST_SIG, "manifest.sig names a different key."
            )
        report.key = key
        report.checks.append(f"manifest signature (key {key.key_id})")
        if trusted_key is not None and not key.matches(trusted_key):
            raise _FailError(
                "untrusted_key",
                MANIFEST_SIG,
                f"The bundle is signed by key {key.key_id}, not the trusted key {trusted_key}.",
            )
        listed: dict[str, dict[str, Any]] = manifest.get("members", {})
        expected = {MANIFEST, MANIFEST_SIG, *listed}
        for name in names:
            if name not in expected:
                raise _FailError(
                    "member_unexpected", name, f"{name} is in the bundle but not in its manifest."
                )
        for name, meta in listed.items():
            digest, n = _hash_member(zf, name)
            if digest != meta.get("sha256") or n != meta.get("size"):
                raise _FailError(
                    "member_hash_mismatch", name, f"{name} does not match the hash in the manifest."
                )
        report.checks.append(f"{len(listed)} member hashes")
        # custody chain
        cust = manifest.get("custody", {})
        lines = io.BytesIO(_read_member(zf, CUSTODY)).readlines()
        parsed = list(read_jsonl(lines))
        entries = [e for e in parsed if isinstance(e, CustodyEntry)]
        failures = [e for e in parsed if isinstance(e, CustodyFailure)]
        cr = verify_entries(
            parsed, log=cust.get("log"), expected_head=cust.get("head"), expected_count=cust.get("entries")
        )
        if not cr.ok or failures:
            f = cr.failure or CustodyFailure(None, failures[0].code, failures[0].message)
            raise _FailError(f.code, CUSTODY, f"custody log: {f.message}")
        report.custody_entries = cr.count
        report.checks.append(f"custody chain ({cr.count} entries, signatures)")
        by_seq = {e.seq: e for e in entries}
        items = manifest.get("items", [])
        for it in items:
            rec = {k: v for k, v in it.items() if k not in ("record_sha256", "custody_seq", "file")}
            digest = hashlib.sha256(canonical_json(rec)).hexdigest()
            label = f"item {it.get('id')}"
            if digest != it.get("record_sha256"):
                raise _FailError(
                    "item_record_mismatch", MANIFEST, f"{label}: its record does not match its hash."
                )
            entry = by_seq.get(it.get("custody_seq"))
            if (
                entry is None
                or entry.action != "evidence.added"
                or entry.details.get("record_sha256") != digest
            ):
                raise _FailError(
                    "item_not_in_custody", CUSTODY, f"{label} is not the one sealed in the custody log."
                )
            if entry.details.get("sha256") != it.get("sha256"):
                raise _FailError(
                    "item_not_in_custody", CUSTODY, f"{label}: its SHA-256 differs from the custody log."
                )
            if it.get("file"):
                original = listed.get(it["file"])
                if original is None or original.get("sha256") != it.get("sha256"):
                    raise _FailError(
                        "original_mismatch", it["file"], f"{label}: the original does not match its SHA-256."
                    )
                report.originals += 1
        _verify_supplements(zf, manifest, listed, key, report)
        report.items = len(items)
        report.hashes_only = bool(manifest.get("hashes_only"))
        report.reference = manifest.get("case", {}).get("reference")
        report.checks.append(f"{len(items)} items against custody")
        comment = zf.comment
    if len(comment) != COMMENT_LEN or not comment.startswith(COMMENT_PREFIX):
        raise _FailError(
            "container_signature_invalid", None, "The bundle's container signature is missing or damaged."
        )
    try:
        csig = unb64(comment[len(COMMENT_PREFIX) :].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise _FailError(
            "container_signature_invalid", None, "The bundle's container signature is damaged."
        ) from None
    covered = size - (COMMENT_LEN - len(COMMENT_PREFIX))
    if not key.verify(csig, CONTAINER_DOMAIN + _prefix_sha256(path, covered)):
        raise _FailError(
            "container_signature_invalid",
            None,
            "The ZIP container was altered outside the members (headers, directory or padding); the members "
            "themselves verify.",
        )
    report.checks.append("container signature")
