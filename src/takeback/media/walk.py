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


def iter_files(paths: Iterable[str]) -> Iterator[str | WalkError]:
    """Files under ``paths`` in a stable order (each folder's entries sorted by name).

    Symlinks are followed; a link leading back to a folder that is being walked (an ancestor) is
    reported as a symlink loop instead of being walked forever.
    """
    for top in paths:
        try:
            st = os.stat(top)
        except OSError as exc:
            yield _describe(exc, top)
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(top, {(st.st_dev, st.st_ino)})
        else:
            yield top


def _walk_dir(folder: str, active: set[tuple[int, int]]) -> Iterator[str | WalkError]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        yield _describe(exc, folder)
        return
    for entry in entries:
        path = entry.path
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError as exc:
            yield _describe(exc, path)
            continue
        if not is_dir:
            # Broken and looping links surface as errors when the file is opened.
            yield path
            continue
        try:
            st = entry.stat(follow_symlinks=True)
        except OSError as exc:
            yield _describe(exc, path)
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
            yield from _walk_dir(path, active)
        finally:
            active.discard(key)
