"""``kill -9`` at random moments, then the same command again: every file ends up processed exactly
once, and only what was in flight is repeated."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from takeback.triage import pipeline
from takeback.triage.service import verify_case_dir
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import rows

JOBS = 2
#: Items claimed and not yet committed at any moment: the chunks in flight plus a commit's buffer.
IN_FLIGHT = pipeline.WINDOW_PER_JOB * JOBS * pipeline.CHUNK_FILES + pipeline.COMMIT_EVERY_N


def _corpus(root: Path) -> int:
    root.mkdir()
    n = 0
    for d in range(6):
        folder = root / f"person_{d}"
        folder.mkdir()
        for i in range(50):
            (folder / f"{i:03d}.png").write_bytes(encode(synthetic_photo(96, 72, seed=d * 100 + i), "PNG"))
            n += 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(40):
            z.writestr(f"zipped/{i}.jpg", encode(synthetic_photo(96, 72, seed=900 + i), "JPEG"))
    (root / "phone.zip").write_bytes(buf.getvalue())
    n += 41
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(30):
            data = encode(synthetic_photo(96, 72, seed=950 + i), "PNG")
            ti = tarfile.TarInfo(f"tarred/{i}.png")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    (root / "cloud.tar.gz").write_bytes(buf.getvalue())
    return n + 31


@pytest.mark.slow
def test_kill_minus_nine_at_random_moments_then_resume(tmp_path: Path) -> None:
    src = tmp_path / "seized"
    expected = _corpus(src)
    case = tmp_path / "case"
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(tmp_path / "data"), "TAKEBACK_ACTOR": "officer-1"}
    cmd = [sys.executable, "-m", "takeback.cli.main", "scan", str(src), "--case", str(case), "-j", str(JOBS)]
    cmd += ["--no-banks", "--no-nudity", "--no-progress"]
    rng = random.Random(20261126)
    # Kill moments are drawn as shares of the work done, not as seconds, so that a fast machine (the
    # whole corpus takes ~3 s on a quiet one) is killed mid-scan as surely as a slow one.
    moments = sorted(rng.uniform(0.05, 0.9) for _ in range(4))
    kills = 0
    for share in moments:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and _done(case) < share * expected and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL) if _group_alive(proc.pid) else None
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert final.returncode == 0, final.stdout + final.stderr
    assert kills >= 2, "the scan finished before it could be killed twice; make the corpus larger"

    got = rows(case, "SELECT * FROM item ORDER BY id")
    assert len(got) == expected
    assert len({r["path"] for r in got}) == expected  # each file once
    assert all(r["state"] == "done" and r["record_sha256"] for r in got)
    repeated = sum(r["attempts"] - 1 for r in got if r["attempts"] > 1)
    assert repeated <= kills * IN_FLIGHT, (repeated, kills)
    for r in got:
        if r["parent_id"] is None:
            assert r["sha256"] == hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()
    resumed = [
        json.loads(r["details"])
        for r in rows(case, "SELECT details FROM custody_entry WHERE action = 'scan.resumed'")
    ]
    assert resumed and any(x["previous_run_ended"] == "unexpectedly" for x in resumed)
    assert verify_case_dir(case).ok
    print(f"\n{kills} kills, {repeated} items repeated (bound {kills * IN_FLIGHT})")


def _done(case: Path) -> int:
    """Items the scan has committed as done so far (0 before the case database exists)."""
    db = case / "case.db"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT count(*) FROM item WHERE state = 'done'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # the schema is not there yet, or a writer holds a lock: try again later
        return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
