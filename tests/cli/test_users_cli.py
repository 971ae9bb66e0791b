"""``takeback users`` and ``takeback review add`` as an administrator runs them: real processes, a
fresh data folder, and the enrolment link they print working against the same store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from takeback.config import Settings, installation_secret
from takeback.staff import service as staff
from takeback.staff import totp
from takeback.store import database_url, open_database

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    return subprocess.run(
        [*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_users_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run(data, "users", "create", "Mei", "--role", "caseworker", "--base-url", "https://ngo.example")
    assert made.returncode == 0, made.stderr
    rec = json.loads(made.stdout)
    assert rec["handle"] == "mei" and rec["enrolment_link"].startswith("https://ngo.example/console/enrol/")
    assert "works once" in made.stderr
    # the link is good against the same store, with the same installation key
    token = rec["enrolment_link"].rsplit("/", 1)[1]
    db = open_database(database_url(Settings(data_dir=data)))
    key = installation_secret(data, staff.SECRET_NAME)
    with db.session() as s:
        seed = totp.from_base32(staff.enrolment(s, token=token, key=key).secret_text)
    assert len(seed) == 20
    bad = run(data, "users", "create", "mei lam", "--role", "caseworker")
    assert bad.returncode == 1 and "cannot be a handle" in bad.stderr
    taken = run(data, "users", "create", "mei", "--role", "admin")
    assert taken.returncode == 1 and "taken" in taken.stderr
    listed = [json.loads(x) for x in run(data, "users", "list").stdout.splitlines()]
    assert [(u["handle"], u["state"]) for u in listed] == [("mei", "not enrolled")]
    reset = run(data, "users", "reset-totp", "mei")
    assert reset.returncode == 0 and json.loads(reset.stdout)["enrolment_link"].rsplit("/", 1)[1] != token
    with db.session() as s:  # the first link stopped working when the new one was made
        try:
            staff.enrolment(s, token=token, key=key)
            raise AssertionError("old link still works")
        except staff.StaffError as exc:
            assert exc.code == "enrolment_invalid"
    unknown_case = run(data, "users", "assign", "mei", "--case", "TB-NONE-0000")
    assert unknown_case.returncode == 1 and "No open case" in unknown_case.stderr
    assert run(data, "users", "deactivate", "mei").returncode == 0
    listed = [json.loads(x) for x in run(data, "users", "list").stdout.splitlines()]
    assert listed[0]["state"] == "deactivated"  # kept, never deleted
    db.dispose()


def test_review_add_needs_a_scan_case_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = tmp_path / "plain"
    plain.mkdir()
    refused = run(data, "review", "add", str(plain), "--label", "x")
    assert refused.returncode == 2 and "not a scan case folder" in refused.stderr
    assert run(data, "review", "add", str(tmp_path / "missing"), "--label", "x").returncode == 2
