"""The read step: a file on disk read once, read-only, with its changes during the scan noticed.

Opened with ``O_NOATIME`` (not even the source's access times change) and stat-ed before and
after: a file whose size or modification time differs from enumeration, or changes while it is
read, is flagged ``changed_during_scan`` (a custody event); one that is gone is
``vanished_during_scan``. Content over the decode limit is hashed while it streams past (three
digests in parallel), never held.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

from takeback.media import HEAD_BYTES
from takeback.media import errors as media_codes
from takeback.media.walk import display_path
from takeback.triage import errors as codes
from takeback.triage.archives import Streamed
from takeback.triage.digests import Digests
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content, FileTask

_CHUNK = 1 << 20
_STREAM_CHUNK = 8 << 20


def open_readonly(path: bytes) -> int:
    """A read-only descriptor that does not block on a FIFO and, where allowed, keeps atimes."""
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


def _read_fd(fd: int, limit: int, size: int) -> bytes | Streamed:
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
    return Streamed(digests.size, digests.sha256, digests.md5, digests.sha1, head)


def _stat_view(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


@dataclass(slots=True)
class Read:
    """A file read: its content for the analysis tasks, and what it looked like before and after."""

    content: Content
    size: int
    opened: os.stat_result
    after: os.stat_result

    def note_change(self, task: FileTask, result: ItemResult) -> None:
        """Flag a file that changed between listing and reading, or while it was read (the hashes
        are those of the bytes read); the last warning on its record."""
        opened, after = self.opened, self.after
        if (task.size, task.mtime_ns) != (opened.st_size, opened.st_mtime_ns):
            change = "between listing and reading"
        elif _stat_view(opened) != _stat_view(after) or self.size != after.st_size:
            change = "while it was being read"
        else:
            return
        result.changed = {
            "listed": {"size": task.size, "mtime_ns": task.mtime_ns},
            "opened": _stat_view(opened),
            "after": _stat_view(after),
            "read": self.size,
        }
        result.warnings.append(
            {
                "code": codes.CHANGED,
                "message": f"The file changed {change} (size or modification time differs); the hashes are "
                "those of the bytes that were read.",
            }
        )


def read_file(task: FileTask, limit: int) -> Read | ItemResult:
    """The file's content (bytes up to ``limit``, else streamed digests), or a result holding why it
    could not be read."""
    shown = display_path(os.fsdecode(task.raw_path))
    try:
        before = os.stat(task.raw_path)
    except OSError as exc:
        return ItemResult(task.item_id, error=_os_error(exc, shown))
    if stat.S_ISDIR(before.st_mode) or not stat.S_ISREG(before.st_mode):
        return ItemResult.failed(
            task.item_id, media_codes.NOT_A_FILE, f"{shown} is not a regular file (device, pipe or socket)."
        )
    try:
        fd = open_readonly(task.raw_path)
    except OSError as exc:
        return ItemResult(task.item_id, error=_os_error(exc, shown))
    try:
        opened = os.fstat(fd)
        data = _read_fd(fd, limit, opened.st_size)
        after = os.fstat(fd)
    except OSError as exc:
        return ItemResult(task.item_id, error=_os_error(exc, shown))
    finally:
        os.close(fd)
    if isinstance(data, bytes):
        return Read(Content.of_bytes(data, shown), len(data), opened, after)
    return Read(Content.of_stream(data, name=shown, path=task.raw_path), data.size, opened, after)


def hash_file(raw: bytes) -> tuple[str, int]:
    """SHA-256 and size of a whole file, read read-only (a source archive, before and after)."""
    h = hashlib.sha256()
    size = 0
    fd = open_readonly(raw)
    try:
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return h.hexdigest(), size
