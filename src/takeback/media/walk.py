"""Walk files and folders safely: sorted, recursive, symlink-loop proof, every problem reported.

Yields paths to hash, or :class:`WalkError` entries for things that cannot be walked (a missing
argument, an unreadable folder, a symlink loop) so the caller can record them and carry on.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from takeback.media import errors as codes


@dataclass(frozen=True, slots=True)
class WalkError:
    path: str
    code: str
    message: str


def display_path(path: str | os.PathLike[str]) -> str:
    """A printable form of a path: bytes that are not UTF-8 in file names shown as ``\\xNN``."""
    text = os.fsdecode(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _describe(exc: OSError, path: str) -> WalkError:
    shown = display_path(path)
    if exc.errno == errno.ENOENT:
        return WalkError(path, codes.NOT_FOUND, f"No such file or folder: {shown}.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return WalkError(path, codes.PERMISSION_DENIED, f"Permission denied: {shown}.")
    if exc.errno == errno.ELOOP:
        return WalkError(path, codes.SYMLINK_LOOP, f"Symbolic link loop at {shown}.")
    return WalkError(path, codes.READ_ERROR, f"Could not read {shown}: {exc.strerror or exc}.")


#: Links followed in a row before a chain counts as a loop (Linux's own limit).
HOP_LIMIT = 40


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Where a symbolic link inside the source leads, found without leaving the source.

    ``verdict``: ``inside`` (``real`` and ``st``, the lstat of what it finally names), ``outside``
    (``shown``: where the chain left the source), ``broken``, ``loop`` (over :data:`HOP_LIMIT` hops)."""

    verdict: Literal["inside", "outside", "broken", "loop"]
    shown: str
    real: str | None = None
    st: os.stat_result | None = None


def _parts(target: str) -> list[str]:
    return [p for p in target.split(os.sep) if p not in ("", ".")]


def resolve_link(link: str, root: str) -> LinkTarget:
    """Resolve ``link`` (its real path, under the real ``root``) one hop at a time with ``lstat`` and
    ``readlink``, lexically, never touching anything outside ``root``.

    Why not :func:`os.path.realpath`: it walks wherever a chain goes (``root -> /`` leads it through
    ``/proc``, where entries vanish under it and it raises), and it answers for the examiner's own
    machine. Here the first component that would leave the source ends the walk: that is the verdict,
    nothing there is read. ``root``'s own ancestors are real folders (``root`` is a real path), so
    ``..`` out of the source and back in (``../src/a.jpg``) resolves without a look outside.
    """
    text = os.readlink(link)
    cur = os.sep if os.path.isabs(text) else os.path.dirname(link)
    pending = _parts(text)
    pending.reverse()  # a stack: the next component last
    hops = 1
    while pending:
        comp = pending.pop()
        if comp == "..":
            cur = os.path.dirname(cur)
            continue
        cand = os.path.join(cur, comp)
        if not _within(cand, root):
            if _within(root, cand):  # an ancestor of the source: a real folder, nothing to resolve
                cur = cand
                continue
            return LinkTarget("outside", cand)
        try:
            st = os.lstat(cand)
        except OSError:
            return LinkTarget("broken", text)
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > HOP_LIMIT:
                return LinkTarget("loop", text)
            nxt = os.readlink(cand)
            if os.path.isabs(nxt):
                cur = os.sep
            more = _parts(nxt)
            more.reverse()
            pending.extend(more)
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            return LinkTarget("broken", text)
        cur = cand
    if not _within(cur, root):
        return LinkTarget("outside", cur)
    try:
        st = os.lstat(cur)
    except OSError:
        return LinkTarget("broken", text)
    return LinkTarget("inside", cur, real=cur, st=st)


def kind_of(mode: int) -> str:
    """What a path is, in words, for a message."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a file or folder"


def _not_a_file(path: str, mode: int) -> WalkError:
    return WalkError(
        path, codes.NOT_A_FILE, f"{display_path(path)} is {kind_of(mode)}, not a file; it was not read."
    )


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a file for reading only if it is a regular file, checked on the open descriptor (a
    stat before ``open`` leaves a moment in which the file can be swapped for a pipe or a device).
    ``O_NONBLOCK`` keeps the open itself from waiting for a pipe's writer. Raises ``OSError``
    (``EISDIR``/``EINVAL`` for what is not a regular file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
            raise OSError(code, f"{kind_of(mode)}, not a file", os.fsdecode(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def iter_files(paths: Iterable[str]) -> Iterator[str | WalkError]:
    """Files under ``paths`` in a stable order (each folder's entries sorted by name).

    A path given is followed if it is a link (the person named it). Inside a folder, nothing but
    regular files is yielded: a named pipe (a read would block forever), a socket or a device
    (``/dev/zero`` never ends) is a ``not_a_file`` error, never opened. Links are resolved one hop
    at a time without looking past the folder given (:func:`resolve_link`): one that leads out of
    it is a ``symlink_outside_source`` error, never followed; one to a file inside is read
    through it; one to a folder inside is walked, and one back to a folder being walked (an
    ancestor) is a ``symlink_loop``.
    """
    for top in paths:
        try:
            st = os.stat(top)
        except (OSError, ValueError) as exc:
            yield _describe(exc, top) if isinstance(exc, OSError) else _nul(top)
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                root = os.path.realpath(top)
            except OSError as exc:
                yield _describe(exc, top)
                continue
            yield from _walk_dir(top, root, root, {(st.st_dev, st.st_ino)})
        elif stat.S_ISREG(st.st_mode):
            yield top
        else:
            yield _not_a_file(top, st.st_mode)


def _nul(path: str) -> WalkError:
    return WalkError(path, codes.NOT_FOUND, f"{display_path(path)}: a file name cannot hold a NUL character.")


def _walk_dir(folder: str, real: str, root: str, active: set[tuple[int, int]]) -> Iterator[str | WalkError]:
    """Walk ``folder`` (as the person sees it), whose real path under the real ``root`` is ``real``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        yield _describe(exc, folder)
        return
    for entry in entries:
        path = entry.path
        real_path = os.path.join(real, entry.name)
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            yield _describe(exc, path)
            continue
        if stat.S_ISLNK(st.st_mode):
            try:
                where = resolve_link(real_path, root)
            except OSError as exc:
                yield _describe(exc, path)
                continue
            if where.verdict == "outside":
                yield WalkError(
                    path,
                    codes.SYMLINK_OUTSIDE,
                    f"{display_path(path)} is a symbolic link that leads outside the folder given (to "
                    f"{display_path(where.shown)}); it was not followed.",
                )
                continue
            if where.verdict == "loop":
                yield WalkError(
                    path, codes.SYMLINK_LOOP, f"Symbolic link loop at {display_path(path)}: too many links."
                )
                continue
            if where.verdict == "broken" or where.st is None or where.real is None:
                yield WalkError(
                    path,
                    codes.NOT_FOUND,
                    f"{display_path(path)} is a broken symbolic link (to {display_path(where.shown)}).",
                )
                continue
            st, real_path = where.st, where.real
        if stat.S_ISREG(st.st_mode):
            yield path
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield _not_a_file(path, st.st_mode)
            continue
        key = (st.st_dev, st.st_ino)
        if key in active:
            yield WalkError(
                path,
                codes.SYMLINK_LOOP,
                f"Symbolic link loop: {display_path(path)} leads back to a folder being walked.",
            )
            continue
        active.add(key)
        try:
            yield from _walk_dir(path, real_path, root, active)
        finally:
            active.discard(key)
