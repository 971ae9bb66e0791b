"""``takeback keys`` and ``takeback serve`` as a person runs them: real processes, a fresh data folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.web.procserver import start_serve

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    return subprocess.run(
        [*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "bank", "create", "ncii").returncode == 0
    created = run(
        data,
        "keys",
        "create",
        "--role",
        "matcher",
        "--bank",
        "ncii",
        "--name",
        "platform",
        "--expires",
        "30d",
    )
    assert created.returncode == 0, created.stderr
    rec = json.loads(created.stdout)  # not a terminal: one JSON record, the key included once
    assert rec["key"].startswith(f"tbk_{rec['key_id']}_") and rec["banks"] == ["ncii"]
    assert rec["role"] == "matcher" and rec["expires_at"] and rec["created_by"].startswith("cli")

    listed = [json.loads(line) for line in run(data, "keys", "list").stdout.splitlines()]
    assert [k["key_id"] for k in listed] == [rec["key_id"]]
    assert rec["key"] not in run(data, "keys", "list").stdout

    assert run(data, "keys", "revoke", rec["key_id"]).returncode == 0
    assert run(data, "keys", "list").stdout.strip() == ""
    shown = json.loads(run(data, "keys", "list", "--all").stdout)
    assert shown["status"] == "revoked"


def test_keys_errors_read_like_sentences(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run(data, "keys", "create", "--role", "matcher", "--bank", "nope")
    assert r.returncode == 1 and "No bank called 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = run(data, "keys", "create", "--role", "admin", "--bank", "x")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = run(data, "keys", "create", "--role", "matcher", "--expires", "someday")
    assert r.returncode == 2 and "--expires" in r.stderr
    r = run(data, "keys", "revoke", "nosuchkeyid1")
    assert r.returncode == 1 and "No API key" in r.stderr


def test_serve_prints_url_and_a_first_admin_key_that_works(tmp_path: Path) -> None:
    srv = start_serve(tmp_path / "data")
    try:
        out = srv.log.read_text()
        assert srv.url in out and f"{srv.url}/docs" in out
        assert f"victim portal {srv.url}/ " in out
        assert httpx.get(f"{srv.url}/").status_code == 200  # the portal, with no key
        assert srv.admin is not None and "shown once" in out
        headers = {"Authorization": f"Bearer {srv.admin}"}
        r = httpx.post(f"{srv.url}/c/banks", json={"name": "FIRST"}, headers=headers)
        assert r.status_code == 201
        # the first staff administrator's one-time set-up link opens the enrolment page
        link = next(line.strip() for line in out.splitlines() if "/console/enrol/" in line)
        page = httpx.get(link)
        assert page.status_code == 200 and "<svg" in page.text and "admin" in page.text
    finally:
        srv.kill(signal.SIGTERM)
    # a second start on the same data: no new admin key is minted
    again = start_serve(tmp_path / "data")
    try:
        assert again.admin is None
        assert "Admin keys already exist" in again.log.read_text()
        assert "/console/enrol/" not in again.log.read_text()  # only ever one first administrator
    finally:
        again.kill(signal.SIGTERM)


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    srv = start_serve(tmp_path / "data")
    try:
        port = srv.url.rsplit(":", 1)[1]
        r = run(tmp_path / "data", "serve", "--port", port)
        assert r.returncode == 2 and f"Port {port}" in r.stderr and "Traceback" not in r.stderr
    finally:
        srv.kill(signal.SIGTERM)
