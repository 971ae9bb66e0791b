"""Every path parameter of every command is checked before anything opens it (cli/paths.py).

The parameters are found by walking the whole Typer app, so a new command or option that takes a
path is covered (and fails here if it is declared without one of the checking parsers)."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner

from takeback.cli.paths import PathParser, Want

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


@functools.cache
def _command() -> Any:
    from takeback.cli.main import full_app

    return typer.main.get_command(full_app())


def _leaves(cmd: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in sorted(subs.items()):
            yield from _leaves(sub, (*prefix, name))
    else:
        yield prefix, cmd


def _mentions_path(annotation: Any) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, type) and issubclass(annotation, os.PathLike):
        return True
    return any(_mentions_path(a) for a in typing.get_args(annotation))


def path_params() -> list[tuple[tuple[str, ...], str, Want]]:
    """(command, parameter name, what it wants) for every parameter whose type is a path."""
    found = []
    for words, cmd in _leaves(_command()):
        for p in cmd.params:
            td = getattr(p, "type_descriptor", None)
            if td is None or not _mentions_path(td.annotation):
                continue
            parser = td.parameter_info.parser
            want = parser.want if isinstance(parser, PathParser) else None
            found.append((words, p.name, want))
    return found


def test_every_path_parameter_is_checked_by_cli_paths() -> None:
    params = path_params()
    unchecked = [f"{' '.join(w)} {n}" for w, n, want in params if want is None]
    assert not unchecked, f"path parameters without a takeback.cli.paths parser: {unchecked}"
    # the walk found them all (a change in Typer's internals would make it find none)
    names = {(" ".join(w), n) for w, n, _ in params}
    assert {("evidence verify", "bundle"), ("hash", "paths"), ("guide", "out"), ("scan", "case")} <= names


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("hostile")
    (d / "folder").mkdir()
    (d / "file").write_bytes(b"x")
    os.mkfifo(d / "fifo")
    os.mkfifo(d / "evil\x1b[31mRED\nerror: forged")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "sock"))  # the socket file stays after close
    sock.close()
    (d / "dangling").symlink_to(d / "nowhere")
    return {
        "folder": str(d / "folder"),
        "file": str(d / "file"),
        "fifo": str(d / "fifo"),
        "evil": str(d / "evil\x1b[31mRED\nerror: forged"),
        "socket": str(d / "sock"),
        "device": "/dev/zero",
        "missing": str(d / "missing"),
        "dangling": str(d / "dangling"),
        "nul": str(d / "a\x00b"),
        "no_parent": str(d / "nofolder" / "out.zip"),
        "file_parent": str(d / "file" / "out.zip"),
    }


#: hostile input -> what the error must say, for each kind of path wanted
EVERYWHERE = {
    "fifo": "named pipe",
    "evil": "named pipe",
    "socket": "a socket",
    "device": "character device",
    "nul": "NUL",
}
BY_WANT: dict[Want, dict[str, str]] = {
    Want.WALK: {},
    Want.FILE: {"folder": "is a folder", "missing": "No such", "dangling": "broken symbolic link"},
    Want.FOLDER: {"file": "not a folder", "missing": "No such", "dangling": "broken symbolic link"},
    Want.NEW_FILE: {
        "folder": "is a folder",
        "dangling": "broken symbolic link",
        "no_parent": "does not exist",
        "file_parent": "is a file",
    },
    Want.NEW_FOLDER: {
        "file": "not a folder",
        "dangling": "broken symbolic link",
        "no_parent": "does not exist",
        "file_parent": "is a file",
    },
}
BY_WANT[Want.FILE_OR_STDIN] = BY_WANT[Want.FILE]


def _filler(p: Any, hostile: dict[str, str]) -> str:
    """A harmless value for a required parameter that is not the one under test."""
    td = p.type_descriptor
    parser = td.parameter_info.parser
    if isinstance(parser, PathParser):
        return hostile["folder" if parser.want in (Want.FOLDER, Want.NEW_FOLDER) else "file"]
    ann = next((a for a in (td.annotation, *typing.get_args(td.annotation)) if isinstance(a, type)), str)
    if issubclass(ann, Enum):
        return str(next(iter(ann)).value)
    if issubclass(ann, int):
        return "1"
    return "HK" if p.name == "jurisdiction" else "x"


def _argv(words: tuple[str, ...], cmd: Any, target: str, value: str, hostile: dict[str, str]) -> list[str]:
    argv = list(words)
    for p in cmd.params:
        is_option = bool(p.opts and p.opts[0].startswith("-"))
        if p.name == target:
            argv += [p.opts[0], value] if is_option else [value]
        elif p.required:
            filler = _filler(p, hostile)
            argv += [p.opts[0], filler] if is_option else [filler]
    return argv


def _cases() -> list[Any]:
    out = []
    for words, name, want in path_params():
        assert want is not None
        for key, phrase in {**EVERYWHERE, **BY_WANT[want]}.items():
            out.append(pytest.param(words, name, key, phrase, id=f"{'-'.join(words)}-{name}-{key}"))
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("words", "name", "key", "phrase"), _cases())
def test_a_wrong_path_ends_the_command_with_one_line(
    words: tuple[str, ...],
    name: str,
    key: str,
    phrase: str,
    hostile: dict[str, str],
    tmp_path: Path,
) -> None:
    cmd = dict(_leaves(_command()))[words]
    argv = _argv(words, cmd, name, hostile[key], hostile)
    env = {"TAKEBACK_DATA_DIR": str(tmp_path / "data"), "TAKEBACK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    r = CliRunner().invoke(_command(), argv, env=env, catch_exceptions=False)
    assert r.exit_code == 2, (argv, r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr  # one line
    assert phrase in r.stderr, r.stderr
    assert "\x1b" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists()  # refused before any store was opened


def test_the_forged_name_is_shown_escaped(hostile: dict[str, str]) -> None:
    r = CliRunner().invoke(_command(), ["evidence", "verify", hostile["evil"]], catch_exceptions=False)
    assert "evil\\x1b[31mRED\\nerror: forged is a named pipe" in r.stderr


def test_a_path_without_permission_is_refused(tmp_path: Path) -> None:
    """Root reads any file: the run drops the capabilities that let it (as in test_hash_cli)."""
    locked = tmp_path / "locked.zip"
    locked.write_bytes(b"PK")
    locked.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    r = subprocess.run(
        [*prefix, *TAKEBACK, "evidence", "verify", str(locked)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and r.stderr == f"error: Permission denied: {locked}.\n", r.stderr
