"""Sources (the folders, archives and files given to ``takeback scan``) and their items.

Enumeration turns a source into pending items in ``case.db``: it only stats (never reads) files, so
its cost is a walk. It is idempotent (``INSERT OR IGNORE`` on each item's key), so a scan killed while
enumerating simply walks again. Archive members become items when their archive has been processed
(:func:`add_members`), each with the archive as its parent.

Links are resolved here, one hop at a time with ``lstat``/``readlink`` and never past the source's
edge (:func:`resolve_link`), and the walk never enters a link:

* a link that leads out of the source (``root -> /``, ``etc -> /etc``, into the examiner's own
  machine) is one item, ``symlink_outside_source``, never followed or read;
* a link to a file inside the source is read through the link, like any file;
* a link to a folder inside the source is one item with a ``symlink_folder`` warning: that folder is
  scanned under its own path, so nothing is listed twice; one back to a folder it sits in is a
  ``symlink_loop``, and so is a chain of more than :data:`HOP_LIMIT` links;
* a broken link is ``not_found``.
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

from takeback.media import errors as media_codes
from takeback.media.walk import HOP_LIMIT, _within, display_path, resolve_link
from takeback.media.walk import _describe as describe_os_error
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


def _walk_problem(source_id: int, path: str, exc: OSError) -> dict[str, Any]:
    w = describe_os_error(exc, path)
    return _row(source_id, path, state=DONE, error_code=w.code, error_message=w.message)


def _link_row(source_id: int, path: str, real: str, root: str) -> dict[str, Any]:
    """One item for a symbolic link: followed only to a file inside the source, never into a folder."""
    shown = display_path(path)
    try:
        where = resolve_link(real, root)
    except OSError as exc:
        return _walk_problem(source_id, path, exc)
    if where.verdict == "outside":
        return _row(
            source_id,
            path,
            state=DONE,
            error_code=codes.SYMLINK_OUTSIDE,
            error_message=(
                f"A symbolic link that leads outside the source (to {display_path(where.shown)}); it was "
                "recorded and not followed."
            ),
        )
    if where.verdict == "loop":
        return _row(
            source_id,
            path,
            state=DONE,
            error_code=media_codes.SYMLINK_LOOP,
            error_message=f"Symbolic link loop at {shown}: more than {HOP_LIMIT} links in a row.",
        )
    if where.verdict == "broken" or where.st is None or where.real is None:
        return _row(
            source_id,
            path,
            state=DONE,
            error_code=media_codes.NOT_FOUND,
            error_message=(
                f"A broken symbolic link: {shown} leads to {display_path(where.shown)}, which does not exist."
            ),
        )
    if not stat.S_ISDIR(where.st.st_mode):
        return _row(source_id, path, **_stat_fields(where.st))  # read through the link, like any file
    if _within(os.path.dirname(real), where.real):
        return _row(
            source_id,
            path,
            state=DONE,
            error_code=media_codes.SYMLINK_LOOP,
            error_message=f"Symbolic link loop: {shown} leads back to a folder being walked.",
        )
    return _row(
        source_id,
        path,
        state=DONE,
        warnings=[
            {
                "code": codes.SYMLINK_FOLDER,
                "message": (
                    f"A symbolic link to the folder {display_path(where.real)} inside the source; that "
                    "folder is scanned under its own path, so the link was recorded, not followed."
                ),
            }
        ],
    )


def _listing(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name))


def _walk_folder(source_id: int, top: str, root: str, top_key: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """Rows for a folder's entries, sorted by name, depth first, with an explicit stack (a source nested
    thousands of folders deep is walked, not a ``RecursionError``). Only real folders are entered, so
    a folder's real path is the source's real path plus the walked names."""
    try:
        first = _listing(top)
    except OSError as exc:
        yield _walk_problem(source_id, top, exc)
        return
    # (real path, entries left, (dev, inode)) of each folder being walked, innermost last
    stack: list[tuple[str, Iterator[os.DirEntry[str]], tuple[int, int]]] = [(root, iter(first), top_key)]
    active = {top_key}
    while stack:
        real, entries, key = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            active.discard(key)
            continue
        path = entry.path
        real_path = os.path.join(real, entry.name)
        try:
            if entry.is_symlink():
                yield _link_row(source_id, path, real_path, root)
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            yield _walk_problem(source_id, path, exc)
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield _row(source_id, path, **_stat_fields(st))
            continue
        sub = (st.st_dev, st.st_ino)
        if sub in active:  # a bind mount of an ancestor
            yield _row(
                source_id,
                path,
                state=DONE,
                error_code=media_codes.SYMLINK_LOOP,
                error_message=f"Folder loop: {display_path(path)} is a folder being walked.",
            )
            continue
        try:
            inner = _listing(path)
        except OSError as exc:
            yield _walk_problem(source_id, path, exc)
            continue
        active.add(sub)
        stack.append((real_path, iter(inner), sub))


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
    try:
        st = os.stat(top)  # the examiner's own argument: followed if it is a link
    except OSError as exc:
        yield _walk_problem(source_id, top, exc)
        return
    if not stat.S_ISDIR(st.st_mode):
        yield _row(source_id, top, **_stat_fields(st))
        return
    root = os.path.realpath(top)  # the examiner's path, not the evidence's links
    yield from _walk_folder(source_id, top, root, (st.st_dev, st.st_ino))


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
        error = m.refused or next(
            (p for p in m.problems if p.code in (codes.ARCHIVE_ENCRYPTED, codes.ARCHIVE_LINK)), None
        )
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
