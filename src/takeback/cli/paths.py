"""Every path a command is given is looked at here, before anything opens it.

A command declares what it wants (a file to read, a folder, a file to write, ...) by giving one of
the parsers below to its ``typer.Argument``/``typer.Option`` (``parser=paths.input_file``). The
parser runs while the command line is read, so a folder where a file is wanted, a named pipe (which
would block a read forever), a socket, a device (``/dev/zero`` never ends), a missing or broken
path, one without permission, a NUL in a name or an output whose folder is missing ends the command
with one line, ``error: ...``, and exit status 2: never a traceback, never a hang. Names are echoed
through :func:`takeback.cli.output.terminal_text`. ``tests/cli/test_paths.py`` walks the whole Typer
app and fails for any path parameter declared without one of these parsers.

Walked inputs (``hash``, ``inspect``, ``bank add``, ``match``, ``scan``) stay batches: a missing
or unreadable one is a per-item error record from the walk (:mod:`takeback.media.walk`), and only
what can never be a file or folder (a pipe, socket, device, a NUL in the name) stops the command.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from takeback.cli.app import usage_error
from takeback.cli.output import terminal_text
from takeback.media.walk import kind_of


class Want(StrEnum):
    FILE = "file"  # an existing regular file, read
    FILE_OR_STDIN = "file_or_stdin"  # the same, or "-" for standard input
    FOLDER = "folder"  # an existing folder, read
    WALK = "walk"  # a file or folder to walk; missing ones are per-item errors of the walk
    NEW_FILE = "new_file"  # a file to write: absent, or a regular file to replace
    NEW_FOLDER = "new_folder"  # a folder to use or create (a scan case)


def _os_problem(exc: OSError, shown: str) -> str:
    if exc.errno == errno.ENOENT:
        return f"No such file or folder: {shown}."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Permission denied: {shown}."
    if exc.errno == errno.ENOTDIR:
        return f"{shown}: a part of this path is a file, not a folder."
    if exc.errno == errno.ELOOP:
        return f"{shown}: a symbolic link loop."
    if exc.errno == errno.ENAMETOOLONG:
        return f"{shown}: the name is too long."
    return f"{shown}: {exc.strerror or exc}."


def _broken_link(path: str, shown: str) -> str | None:
    """The message for a symbolic link that leads nowhere, else None."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode) and not os.path.exists(path):
            target = terminal_text(os.fsdecode(os.readlink(path)))
            return f"{shown} is a broken symbolic link (to {target}, which does not exist)."
    except OSError:
        return None
    return None


def _can_open(path: str, flags: int) -> OSError | None:
    """Open and close at once (never blocks: ``O_NONBLOCK``; nothing read): the one sure test of
    permission (``os.access`` answers for the real, not the effective, user)."""
    try:
        os.close(os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)))
    except OSError as exc:
        return exc
    return None


def _parent_problem(path: str, shown: str) -> str | None:
    """A path to create: its folder must exist, be a folder and be writable."""
    parent = os.path.dirname(os.path.abspath(path))
    shown_parent = terminal_text(parent)
    try:
        st = os.stat(parent)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"Cannot create {shown}: the folder {shown_parent} does not exist."
        return f"Cannot create {shown}: {_os_problem(exc, shown_parent)}"
    if not stat.S_ISDIR(st.st_mode):
        return f"Cannot create {shown}: {shown_parent} is {kind_of(st.st_mode)}, not a folder."
    if not os.access(parent, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return f"Cannot create {shown}: permission denied in {shown_parent}."
    return None


def problem(path: str, want: Want) -> str | None:
    """Why ``path`` cannot be used as ``want``, in one sentence; None when it can."""
    shown = terminal_text(path)
    if "\x00" in path:
        return f"{shown}: a file name cannot hold a NUL character."
    if path == "":
        return "An empty path was given."
    if want is Want.FILE_OR_STDIN and path == "-":
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        if want is Want.WALK:
            return None  # the walk records it as the batch's item
        if exc.errno == errno.ENOENT and want in (Want.NEW_FILE, Want.NEW_FOLDER):
            return _broken_link(path, shown) or _parent_problem(path, shown)
        return _broken_link(path, shown) or _os_problem(exc, shown)
    mode = st.st_mode
    is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
    if want is Want.WALK:
        return (
            None
            if is_dir or is_file
            else f"{shown} is {kind_of(mode)}, not a file or folder; it is not read."
        )
    if want in (Want.FOLDER, Want.NEW_FOLDER):
        if not is_dir:
            return f"{shown} is {kind_of(mode)}, not a folder."
        failed = _can_open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        return None if failed is None else _os_problem(failed, shown)
    if not is_file:
        if want is Want.NEW_FILE:
            return f"{shown} is {kind_of(mode)}, not a file to write; nothing was written."
        return f"{shown} is {kind_of(mode)}, not a file; it is not read."
    failed = _can_open(path, os.O_WRONLY if want is Want.NEW_FILE else os.O_RDONLY)
    return None if failed is None else _os_problem(failed, shown)


@dataclass(frozen=True)
class PathParser:
    """A typer ``parser=``: checks the path as :attr:`want` says, or ends the command."""

    want: Want

    def __call__(self, value: str | Path) -> Path:
        text = os.fspath(value)
        why = problem(text, self.want)
        if why is not None:
            usage_error(why)
        return Path(text)


input_file = PathParser(Want.FILE)
input_file_or_stdin = PathParser(Want.FILE_OR_STDIN)
input_folder = PathParser(Want.FOLDER)
walk_input = PathParser(Want.WALK)
output_file = PathParser(Want.NEW_FILE)
case_folder = PathParser(Want.NEW_FOLDER)

#: every parser above (a path parameter without one of them fails tests/cli/test_paths.py)
PARSERS = (input_file, input_file_or_stdin, input_folder, walk_input, output_file, case_folder)
