"""``kill -9`` of a scan leaves its pool's temporary folder (the forkserver socket's, ``/tmp/pymp-*`` by
default) behind; the next run removes it, and only folders it can prove are ours and dead."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from takeback.triage import pool
from tests.conftest import encode, synthetic_photo

PREFIX = "takeback-mp-"  # the pool folders' names: takeback-mp-<pid>-<random>


def _wait(pred: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_the_next_run_removes_what_a_killed_scan_left(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(150):
        (src / f"{i:03d}.png").write_bytes(encode(synthetic_photo(96, 72, seed=i), "PNG"))
    # short (a deep TMPDIR would not fit a socket path); removed below
    tmp = Path(tempfile.mkdtemp(prefix="tb-", dir="/tmp"))
    try:
        _killed_then_rerun(tmp_path, src, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _killed_then_rerun(tmp_path: Path, src: Path, tmp: Path) -> None:
    (tmp / "pymp-someone-else").mkdir()  # not ours: never touched
    (tmp / f"{PREFIX}{os.getpid()}-alive").mkdir()  # a running process's (this one)
    (tmp / f"{PREFIX}999999999-dead").mkdir()  # no such process
    (tmp / f"{PREFIX}1-link").symlink_to(tmp / "pymp-someone-else")
    before = set(os.listdir(tmp))
    case = tmp_path / "case"
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "TAKEBACK_DATA_DIR": str(tmp_path / "data"),
        "TAKEBACK_ACTOR": "e",
    }
    cmd = [sys.executable, "-m", "takeback.cli.main", "scan", str(src), "--case", str(case), "-j", "2"]
    cmd += ["--no-banks", "--no-nudity", "--no-progress"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )

    def started() -> bool:
        """Some item done (read-only: connecting normally would create an empty case.db)."""
        if not (case / "case.db").exists():
            return False
        try:
            con = sqlite3.connect(f"file:{case / 'case.db'}?mode=ro", uri=True, timeout=1)
            try:
                return con.execute("SELECT 1 FROM item WHERE state = 'done' LIMIT 1").fetchone() is not None
            finally:
                con.close()
        except sqlite3.Error:
            return False

    _wait(lambda: proc.poll() is not None or started())
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait(lambda: subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).returncode != 0, 30)
    left = set(os.listdir(tmp)) - before
    assert len(left) == 1, left  # the killed scan's folder
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(os.listdir(tmp)) == before - {f"{PREFIX}999999999-dead"}


def test_a_running_scans_folder_is_never_swept(tmp_path: Path) -> None:
    """Its ``owner.lock`` is held: whatever its pid reads as (another PID namespace), it stays."""
    import fcntl

    folder = tmp_path / f"{PREFIX}999999999-running"
    folder.mkdir()
    fd = os.open(folder / "owner.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert pool.sweep_stale_temp_dirs(str(tmp_path)) == [] and folder.exists()
    finally:
        os.close(fd)
    assert pool.sweep_stale_temp_dirs(str(tmp_path)) == [str(folder)] and not folder.exists()


def test_a_deep_tmpdir_falls_back_to_a_short_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``AF_UNIX`` socket path is at most 107 bytes: a deep TMPDIR would stop the forkserver."""
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/" + "d" * 90)
    assert pool.temp_parent() == "/tmp"
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/short")
    assert pool.temp_parent() == "/tmp/short"
