"""Sources (the folders, archives and files given to ``takeback scan``) and their items.

Enumeration turns a source into pending items in ``case.db``: it only stats (never reads) files, so
its cost is a walk. It is idempotent (``INSERT OR IGNORE`` on each item's key), so a scan killed while
enumerating simply walks again. Archive members become items when their archive has been processed
(:func:`add_members`), each with the archive as its parent.

Links are followed only while they stay inside the source: a link that leads out of it (into the
examiner's own machine, say) is recorded with ``symlink_outside_source`` and never read. Loops come
from :func:`takeback.media.walk.iter_files` as errors.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from takeback.media.walk import WalkError, display_path, iter_files
from takeback.triage import errors as codes
from takeback.triage.archives import Member
from takeback.triage.models import DONE, PENDING, item, source

BATCH = 2000


def iso_ns(ns: int) -> str:
    """UTC ISO-8601 with microseconds from a nanosecond timestamp."""
    try:
        dt = datetime.fromtimestamp(ns // 1000 / 1e6, UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def file_key(path: bytes) -> bytes:
    return b"f\x00" + path


def member_key(parent_id: int, index: int) -> bytes:
    return b"m\x00%d\x00%d" % (parent_id, index)


@dataclass(frozen=True)
class SourceSpec:
    arg: str  # display
    raw: bytes  # absolute path bytes
    kind: str  # folder | file | missing


def describe_sources(args: Iterable[str]) -> list[SourceSpec]:
    out = []
    for a in args:
        absolute = os.path.abspath(a)
        try:
            st = os.stat(absolute)
            kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
        except OSError:
            kind = "missing"
        out.append(SourceSpec(arg=display_path(absolute), raw=os.fsencode(absolute), kind=kind))
    return out


def _stat_fields(st: os.stat_result) -> dict[str, Any]:
    return {
        "size": st.st_size,
        "mtime": iso_ns(st.st_mtime_ns),
        "ctime": iso_ns(st.st_ctime_ns),
        "atime": iso_ns(st.st_atime_ns),
        "mtime_ns": st.st_mtime_ns,
    }


def _row(source_id: int, path: str, **extra: Any) -> dict[str, Any]:
    raw = os.fsencode(path)
    folder = os.path.dirname(path)
    base: dict[str, Any] = {
        "source_id": source_id,
        "parent_id": None,
        "member_index": None,
        "key": file_key(raw),
        "raw_path": raw,
        "path": display_path(path),
        "folder": display_path(folder),
        "name": display_path(os.path.basename(path)),
        "depth": 0,
        "size": None,
        "mtime": None,
        "ctime": None,
        "atime": None,
        "mtime_ns": None,
        "state": PENDING,
        "attempts": 0,
        "expanded": None,
        "error_code": None,
        "error_message": None,
        "warnings": None,
    }
    base.update(extra)
    return base


class _Outside:
    """Is a walked path's real location inside the source? Parent folders' real paths are cached."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._cache: dict[str, str] = {}

    def real(self, path: str) -> str:
        parent = os.path.dirname(path)
        rp = self._cache.get(parent)
        if rp is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            rp = self._cache[parent] = os.path.realpath(parent)
        full = os.path.join(rp, os.path.basename(path))
        return os.path.realpath(full) if os.path.islink(full) else full

    def outside(self, path: str) -> str | None:
        real = self.real(path)
        if real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep):
            return None
        return real


def _entries(source_id: int, spec_raw: bytes, kind: str) -> Iterator[dict[str, Any]]:
    top = os.fsdecode(spec_raw)
    if kind == "missing":
        yield _row(
            source_id,
            top,
            state=DONE,
            error_code="not_found",
            error_message=f"The source {display_path(top)} does not exist or cannot be read.",
        )
        return
    guard = _Outside(top if kind == "folder" else os.path.dirname(top))
    for entry in iter_files([top]):
        if isinstance(entry, WalkError):
            yield _row(source_id, entry.path, state=DONE, error_code=entry.code, error_message=entry.message)
            continue
        real = guard.outside(entry) if kind == "folder" else None
        if real is not None:
            yield _row(
                source_id,
                entry,
                state=DONE,
                error_code=codes.SYMLINK_OUTSIDE,
                error_message=(
                    f"A symbolic link that leads outside the source (to {display_path(real)}); it was "
                    "recorded and not followed."
                ),
            )
            continue
        try:
            st = os.stat(entry)
        except OSError as exc:
            code = "symlink_loop" if exc.errno == 40 else "not_found" if exc.errno == 2 else "read_error"
            yield _row(
                source_id,
                entry,
                state=DONE,
                error_code=code,
                error_message=f"Could not read {display_path(entry)}: {exc.strerror or exc}.",
            )
            continue
        yield _row(source_id, entry, **_stat_fields(st))


def enumerate_source(
    session_factory: Callable[[], Any],
    source_id: int,
    *,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Insert the source's files as pending items (idempotent); returns (files, bytes) in the source."""
    with session_factory() as s:
        spec = s.execute(select(source.c.raw, source.c.kind).where(source.c.id == source_id)).one()
    stmt = insert(item).prefix_with("OR IGNORE")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        with session_factory() as s:
            s.execute(stmt, batch)
        if on_batch:
            on_batch(len(batch), sum(r["size"] or 0 for r in batch))
        batch.clear()

    for row in _entries(source_id, spec.raw, spec.kind):
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with session_factory() as s:
        files, size = s.execute(
            select(func.count(), func.coalesce(func.sum(item.c.size), 0)).where(
                item.c.source_id == source_id, item.c.parent_id.is_(None)
            )
        ).one()
        s.execute(
            update(source).where(source.c.id == source_id).values(enumerated=True, files=files, bytes=size)
        )
    return int(files), int(size)


def member_rows(parent: Any, members: list[Member], *, depth_limit: int) -> list[dict[str, Any]]:
    """Item rows for an archive's members (``parent`` is the archive's item row)."""
    rows = []
    parent_raw = bytes(parent.raw_path)
    for m in members:
        if m.kind == "dir":
            continue
        inner_dir = m.name.rsplit("/", 1)[0] if "/" in m.name.strip("/") else ""
        warnings = [{"code": p.code, "message": p.message} for p in m.problems]
        error = next((p for p in m.problems if p.code in (codes.ARCHIVE_ENCRYPTED, codes.ARCHIVE_LINK)), None)
        error_code: str | None = None
        error_message: str | None = None
        if m.kind == "other" and error is None:
            error_code, error_message = "not_a_file", "The entry is not a regular file (device, fifo)."
        else:
            error_code = error.code if error else None
            error_message = error.message if error else None
        rows.append(
            {
                "source_id": parent.source_id,
                "parent_id": parent.id,
                "member_index": m.index,
                "key": member_key(parent.id, m.index),
                "raw_path": parent_raw + b"!/" + m.raw,
                "path": f"{parent.path}!/{m.name}",
                "folder": f"{parent.path}!/{inner_dir}" if inner_dir else f"{parent.path}!",
                "name": m.name.rstrip("/").rsplit("/", 1)[-1],
                "depth": parent.depth + 1,
                "size": m.size,
                "mtime": m.mtime,
                "ctime": None,
                "atime": None,
                "mtime_ns": None,
                "state": DONE if error_code else PENDING,
                "attempts": 0,
                "expanded": None,
                "error_code": error_code,
                "error_message": error_message,
                "warnings": warnings or None,
            }
        )
    return rows


def add_members(session: Session, parent: Any, members: list[Member], *, depth_limit: int) -> int:
    rows = member_rows(parent, members, depth_limit=depth_limit)
    for i in range(0, len(rows), BATCH):
        session.execute(insert(item).prefix_with("OR IGNORE"), rows[i : i + BATCH])
    session.execute(update(item).where(item.c.id == parent.id).values(expanded=True))
    return len(rows)
