"""Per-item work, run in worker processes: read once, then fingerprint and analyse from memory.

One task is one item: a file on disk (read here, with ``O_NOATIME`` so not even the source's access
times change) or an archive member's bytes (read by the main process, which owns the archive). The
steps are independent and each failure is recorded on the item, never raised:

1. read: stat before and after; a file whose size or modification time differs from enumeration, or
   changes while it is read, is flagged ``changed_during_scan`` (a custody event); one that is gone
   is ``vanished_during_scan``; content over the decode limit is hashed while it streams past;
2. fingerprint: :func:`takeback.signals.fingerprint.fingerprint_bytes` (SHA-256, MD5, PDQ + the 8
   dihedral hashes) plus SHA-1 for Project VIC and NSRL;
3. known-file lists: a hit makes the item ``known`` and ends its analysis (counted, not analysed);
4. provenance (:func:`takeback.analysis.provenance.inspect_bytes`), EXIF camera fields and
   creation traces, nudity (:mod:`takeback.analysis.nudity`), video fingerprints (:mod:`.video`).

Results are plain dicts (they cross a process boundary; nothing here is stored as pickle).
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from takeback.media import HEAD_BYTES, Limits, MediaError, decode_image, sniff
from takeback.media import errors as media_codes
from takeback.media.types import Kind, MediaType
from takeback.media.walk import display_path
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from takeback.triage import errors as codes
from takeback.triage import video
from takeback.triage.archives import detect as detect_archive
from takeback.triage.digests import Digests
from takeback.triage.models import DONE, KNOWN

if TYPE_CHECKING:
    from takeback.signals.vpdq import VpdqResult

_CHUNK = 1 << 20
_STREAM_CHUNK = 8 << 20
#: Fingerprint errors that are not failures: the item is simply not an image (documents, text).
NOT_FAILURES = frozenset({media_codes.UNSUPPORTED_TYPE})


@dataclass(frozen=True, slots=True)
class KnownSource:
    """A known-file list as a worker reads it: a table in ``case.db`` or an NSRL RDS v3 database."""

    list_id: int
    name: str
    kind: str  # "case" (known_hash table) | "nsrl"
    path: str
    column: str = ""  # NSRL: the indexed column to look up (sha256 | sha1 | md5)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    limits: Limits = field(default_factory=Limits)
    nudity: bool = True
    watermarks: str = "auto"
    video: bool = True
    known: tuple[KnownSource, ...] = ()


@dataclass(frozen=True, slots=True)
class FileTask:
    item_id: int
    raw_path: bytes
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True, slots=True)
class BytesTask:
    item_id: int
    data: bytes
    name: str


Task = FileTask | BytesTask


# --- worker state ------------------------------------------------------------------------------------

_options = WorkerOptions()
_known_conns: dict[str, sqlite3.Connection] = {}


def init_worker(options: WorkerOptions) -> None:
    """Process initializer: one BLAS thread (N workers use N cores) and the worker's options."""
    global _options
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _options = options
    _known_conns.clear()


def _conn(path: str) -> sqlite3.Connection:
    c = _known_conns.get(path)
    if c is None:
        uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        c = sqlite3.connect(uri, uri=True, check_same_thread=False)
        _known_conns[path] = c
    return c


_NSRL_QUERIES = {col: f"SELECT 1 FROM FILE WHERE {col} = ? LIMIT 1" for col in ("sha256", "sha1", "md5")}  # noqa: S608


def known_names(
    md5: str | None, sha1: str | None, sha256: str | None, sources: tuple[KnownSource, ...]
) -> list[str]:
    """Names of the known-file lists holding one of these hashes."""
    hits: list[str] = []
    values = {"md5": md5, "sha1": sha1, "sha256": sha256}
    case_sources = [k for k in sources if k.kind == "case"]
    if case_sources:
        by_id = {k.list_id: k.name for k in case_sources}
        c = _conn(case_sources[0].path)
        for alg, value in values.items():
            if value is None:
                continue
            for (list_id,) in c.execute(
                "SELECT list_id FROM known_hash WHERE alg = ? AND value = ?", (alg, bytes.fromhex(value))
            ):
                name = by_id.get(list_id)
                if name and name not in hits:
                    hits.append(name)
    for k in sources:
        if k.kind != "nsrl" or k.name in hits:
            continue
        value = values.get(k.column)
        query = _NSRL_QUERIES.get(k.column)
        if value is None or query is None:
            continue
        row = _conn(k.path).execute(query, (value.upper(),)).fetchone()
        if row is not None:
            hits.append(k.name)
    return hits


# --- reading -----------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _stat_view(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _open_readonly(path: bytes) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(path, flags | noatime)
        except PermissionError:
            pass  # O_NOATIME needs ownership; read normally
    return os.open(path, flags)


def _os_error(exc: OSError, shown: str) -> dict[str, str]:
    if exc.errno == errno.ENOENT:
        return {
            "code": codes.VANISHED,
            "message": f"{shown} was listed but had disappeared when it was read.",
        }
    if exc.errno in (errno.EACCES, errno.EPERM):
        return {"code": media_codes.PERMISSION_DENIED, "message": f"Permission denied reading {shown}."}
    if exc.errno == errno.ELOOP:
        return {"code": media_codes.SYMLINK_LOOP, "message": f"Symbolic link loop at {shown}."}
    return {"code": media_codes.READ_ERROR, "message": f"Could not read {shown}: {exc.strerror or exc}."}


@dataclass(slots=True)
class _Streamed:
    size: int
    sha256: str
    md5: str
    sha1: str
    head: bytes


def _read_fd(fd: int, limit: int, size: int) -> bytes | _Streamed:
    """All bytes when at most ``limit``; otherwise digests computed while streaming (flat memory:
    a file known to be larger is never held, and one that grows past the limit is let go)."""
    parts: list[bytes] = []
    total = 0
    if size <= limit:
        while total <= limit:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
    first = b"".join(parts)
    del parts
    digests = Digests(first)
    head = first[:HEAD_BYTES]
    del first
    while chunk := os.read(fd, _STREAM_CHUNK):
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        digests.update(chunk)
    return _Streamed(digests.size, digests.sha256, digests.md5, digests.sha1, head)


# --- analysis ----------------------------------------------------------------------------------------


def jpeg_chroma_subsampled(data: bytes) -> bool:
    """Whether a JPEG's chroma is stored at lower resolution than its luma (4:2:0, 4:2:2...).

    Read from the frame header (SOFn) without decoding; a header that cannot be read counts as not
    subsampled, so the watermark check still runs.
    """
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            seg = data[i + 4 : i + 2 + length]
            if len(seg) < 6:
                return False
            count = seg[5]
            comps = [seg[6 + 3 * k : 9 + 3 * k] for k in range(count)]
            if count < 3 or any(len(c) < 3 for c in comps):
                return False
            factors = [(c[1] >> 4, c[1] & 0x0F) for c in comps]
            (hy, vy), chroma = factors[0], factors[1:]
            return any(h < hy or v < vy for h, v in chroma)
        if marker == 0xDA:
            return False
        i += 2 + length
    return False


def _wants_watermarks(data: bytes, mt: MediaType, policy: str) -> bool:
    if policy == "off":
        return False
    if policy == "on":
        return True
    return not (mt.mime == "image/jpeg" and jpeg_chroma_subsampled(data))


def _provenance(data: bytes, name: str, mt: MediaType, limits: Limits, watermarks: bool) -> dict[str, Any]:
    from takeback.analysis.provenance import InspectOptions, inspect_bytes

    try:
        findings = inspect_bytes(
            data, options=InspectOptions(watermarks=watermarks, limits=limits), name=name
        )
    except Exception as exc:  # inspect isolates its stages; this is a last line of defence
        return {
            "error": {
                "code": codes.ANALYSIS_FAILED,
                "message": f"Provenance check failed: {type(exc).__name__}.",
            }
        }
    record = findings.to_record()
    ai = [f for f in findings.findings if f.error is None and f.indicates in ("ai_generated", "ai_edited")]
    generator = next((f.generator for f in sorted(ai, key=lambda f: f.tier) if f.generator), None)
    return {
        "record": record,
        "tier": record.get("strongest_tier"),
        "headline": record.get("headline"),
        "ai": bool(record.get("strongest_tier") is not None and record["strongest_tier"] <= 2),
        "generator": generator,
    }


def _metadata(data: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    from takeback.analysis.provenance.containers import walk
    from takeback.triage.exif import camera_fields, creation_traces

    try:
        container = walk(data)
        camera = camera_fields(container)
        return camera, creation_traces(container, camera)
    except Exception:  # metadata problems are already findings of the provenance check
        return None, None


def _nudity(data: bytes, limits: Limits) -> dict[str, Any]:
    from takeback.analysis.nudity import default_detector

    try:
        rgb = decode_image(data, limits=limits, want="rgb").pixels
        result = default_detector().detect_pixels([rgb])[0]
    except MediaError as exc:
        return {"error": exc.to_dict()}
    except Exception as exc:
        return {
            "error": {
                "code": codes.ANALYSIS_FAILED,
                "message": f"Nudity scoring failed: {type(exc).__name__}.",
            }
        }
    return {"score": round(float(result.score), 4), "explicit": result.explicit}


def _base(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "state": DONE, "warnings": [], "processed_at": _now()}


def analyse_bytes(item_id: int, data: bytes, name: str) -> dict[str, Any]:
    """Everything for one item whose bytes are in memory."""
    opts = _options
    r = _base(item_id)
    fp = fingerprint_bytes(data, name=name, options=FingerprintOptions(dihedral=True, limits=opts.limits))
    r.update(
        size=fp.size,
        media_type=fp.media_type,
        sha256=fp.sha256,
        md5=fp.md5,
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        pdq=fp.pdq,
        pdq_quality=fp.pdq_quality,
        pdq_dihedral=" ".join(fp.pdq_dihedral) if fp.pdq_dihedral else None,
        width=fp.width,
        height=fp.height,
    )
    mt = sniff(data[:HEAD_BYTES])
    r["kind"] = mt.kind.value
    if fp.error and fp.error["code"] not in NOT_FAILURES:
        if fp.error["code"] == media_codes.EMPTY_FILE:
            r["warnings"].append(fp.error)
        else:
            r["error"] = fp.error
    if opts.known:
        hits = known_names(fp.md5, r["sha1"], fp.sha256, opts.known)
        if hits:
            r["state"], r["known"] = KNOWN, hits
            return r
    fmt = detect_archive(data[:HEAD_BYTES])
    if fmt is not None:
        r["archive"] = fmt
        r["kind"] = Kind.ARCHIVE.value
        return r
    if mt.is_image:
        prov = _provenance(data, name, mt, opts.limits, _wants_watermarks(data, mt, opts.watermarks))
        _apply_provenance(r, prov)
        r["exif"], r["traces"] = _metadata(data)
        if opts.nudity and fp.pdq is not None:
            nud = _nudity(data, opts.limits)
            if "error" in nud:
                r["warnings"].append(nud["error"])
            else:
                r["nudity"], r["explicit"] = nud["score"], nud["explicit"]
    elif mt.is_video:
        # fingerprint_bytes hashed the video's vPDQ (its error is that hashing's): recorded below, only
        # when videos are asked for, from that one decode
        vpdq_error = r.pop("error", None)
        _apply_provenance(r, _provenance(data, name, mt, opts.limits, False))
        if opts.video:
            _apply_video(r, _video_print(fp.vpdq, vpdq_error))
    return r


def _apply_provenance(r: dict[str, Any], prov: dict[str, Any]) -> None:
    if "error" in prov:
        r["warnings"].append(prov["error"])
        return
    r["provenance"] = prov["record"]
    r["tier"], r["headline"], r["ai"], r["generator"] = (
        prov["tier"],
        prov["headline"],
        prov["ai"],
        prov["generator"],
    )


def _apply_video(r: dict[str, Any], vp: video.VideoPrint) -> None:
    if vp.error:
        r["error"] = vp.error
        return
    r["vpdq"], r["vpdq_frames"], r["duration_ms"] = vp.packed, vp.frames, vp.duration_ms
    r["width"], r["height"] = vp.width, vp.height
    if vp.partial:
        r["warnings"].append(vp.partial)


def _video_print(result: VpdqResult | None, error: dict[str, str] | None) -> video.VideoPrint:
    if error is not None or result is None:
        return video.failed(error or {"code": codes.ANALYSIS_FAILED, "message": "No video fingerprint."})
    return video.print_of(result)


def analyse_streamed(item_id: int, s: Any, *, path: bytes | None = None) -> dict[str, Any]:
    """An item too large to hold in memory: digests only (plus vPDQ for a video file on disk; an
    archive file on disk is still expanded, read in place)."""
    opts = _options
    r = _base(item_id)
    mt = sniff(s.head)
    r.update(size=s.size, media_type=mt.mime, kind=mt.kind.value, sha256=s.sha256, md5=s.md5, sha1=s.sha1)
    if opts.known:
        hits = known_names(s.md5, s.sha1, s.sha256, opts.known)
        if hits:
            r["state"], r["known"] = KNOWN, hits
            return r
    fmt = detect_archive(s.head)
    if fmt is not None and path is not None:
        r["archive"] = fmt
        r["kind"] = Kind.ARCHIVE.value
        return r
    if mt.is_video and path is not None and opts.video:
        _apply_video(r, video.fingerprint_video(os.fsdecode(path), media_type=mt))
    elif mt.is_image or mt.is_video:
        r["error"] = {
            "code": media_codes.FILE_TOO_LARGE,
            "message": f"The content is {s.size:,} bytes, over the decode limit of "
            f"{opts.limits.max_file_bytes:,} "
            "(TAKEBACK_MAX_FILE_BYTES); SHA-256, SHA-1 and MD5 were computed, nothing was decoded.",
        }
    return r


def run_file(task: FileTask) -> dict[str, Any]:
    shown = display_path(os.fsdecode(task.raw_path))
    r = _base(task.item_id)
    try:
        before = os.stat(task.raw_path)
    except OSError as exc:
        r["error"] = _os_error(exc, shown)
        return r
    if stat.S_ISDIR(before.st_mode) or not stat.S_ISREG(before.st_mode):
        r["error"] = {
            "code": media_codes.NOT_A_FILE,
            "message": f"{shown} is not a regular file (device, pipe or socket).",
        }
        return r
    try:
        fd = _open_readonly(task.raw_path)
    except OSError as exc:
        r["error"] = _os_error(exc, shown)
        return r
    try:
        opened = os.fstat(fd)
        content = _read_fd(fd, _options.limits.max_file_bytes, opened.st_size)
        after = os.fstat(fd)
    except OSError as exc:
        r["error"] = _os_error(exc, shown)
        return r
    finally:
        os.close(fd)
    if isinstance(content, bytes):
        r = analyse_bytes(task.item_id, content, shown)
        read_size = len(content)
    else:
        r = analyse_streamed(task.item_id, content, path=task.raw_path)
        read_size = content.size
    listed = {"size": task.size, "mtime_ns": task.mtime_ns}
    change = None
    if (task.size, task.mtime_ns) != (opened.st_size, opened.st_mtime_ns):
        change = "between listing and reading"
    elif _stat_view(opened) != _stat_view(after) or read_size != after.st_size:
        change = "while it was being read"
    if change is not None:
        r["changed"] = {
            "listed": listed,
            "opened": _stat_view(opened),
            "after": _stat_view(after),
            "read": read_size,
        }
        r["warnings"].append(
            {
                "code": codes.CHANGED,
                "message": f"The file changed {change} (size or modification time differs); the hashes are "
                "those of the bytes that were read.",
            }
        )
    return r


def run_task(task: Task) -> dict[str, Any]:
    try:
        if isinstance(task, FileTask):
            return run_file(task)
        return analyse_bytes(task.item_id, task.data, task.name)
    except MemoryError:
        r = _base(task.item_id)
        r["error"] = {
            "code": media_codes.TOO_MANY_PIXELS,
            "message": "Not enough memory to analyse this item.",
        }
        return r
    except Exception as exc:  # one item's bug must not lose the others in its chunk
        r = _base(task.item_id)
        r["error"] = {
            "code": codes.ANALYSIS_FAILED,
            "message": f"Analysis failed: {type(exc).__name__}: {exc}"[:300],
        }
        return r


def run_chunk(tasks: list[Task]) -> list[dict[str, Any]]:
    return [run_task(t) for t in tasks]
