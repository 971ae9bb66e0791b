"""A multi-worker ``takeback serve`` as one service: ready only when every worker is, lookups that
reach a loading worker wait for it, the index status is current, and workers die with their
supervisor (issue 11 §2, issue 12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeback.auth import Role, create_key
from takeback.banks.service import NewContent, SignalValue, add_contents, create_bank
from takeback.config import Settings
from takeback.store import database_url, open_database
from takeback.web import index as web_index
from takeback.web.app import create_app
from tests.web.conftest import ServerThread, _wait_ready
from tests.web.procserver import children, free_port, gone, start_serve

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PDQ = "f" * 32 + "0" * 32


def _workers(supervisor: int) -> list[int]:
    """The supervisor's Uvicorn workers (not multiprocessing's resource tracker, if any)."""
    found = []
    for pid in children(supervisor):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def _status(url: str) -> int:
    try:
        return httpx.get(f"{url}/status", timeout=5).status_code
    except httpx.TransportError:
        return 0


@linux_only
def test_status_is_ready_only_when_every_worker_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    held: list[int] = []
    try:
        # Hold one worker back while it is still starting (importing, long before its index loads).
        # The supervisor is held too: it would kill a worker that stops answering its health pings.
        deadline = time.monotonic() + 60
        while len(workers := _workers(proc.pid)) < 2:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.005)
        for pid in (proc.pid, workers[1]):
            os.kill(pid, signal.SIGSTOP)
            held.append(pid)
        run_dir = data / "run" / f"serve-{proc.pid}"
        assert not (run_dir / f"worker-{workers[1]}.ready").exists()
        # The other worker becomes ready and accepts every connection; the service is not ready.
        deadline = time.monotonic() + 120
        while not (run_dir / f"worker-{workers[0]}.ready").exists() and _status(url) != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        answers = set()
        for _ in range(20):
            answers.add(_status(url))
            time.sleep(0.1)
        assert answers == {503}, answers
        # Let them go (the worker first, so it answers the supervisor's pending ping): the service
        # becomes ready, and then every worker is.
        for pid in reversed(held):
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.3)
        held = []
        deadline = time.monotonic() + 120
        while _status(url) != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        assert _workers(proc.pid) == workers  # the held worker was not replaced
        with open_database(database_url(Settings(data_dir=data))).session() as s:
            key = create_key(s, role=Role.MATCHER, actor="test", name="t").token
        headers = {"Authorization": f"Bearer {key}"}
        codes = []
        for _ in range(100):  # a new connection each time: both workers answer
            params = {"signal_type": "pdq", "signal": PDQ}
            r = httpx.get(f"{url}/m/raw_lookup", params=params, headers=headers)
            codes.append(r.status_code)
        assert set(codes) == {200}, codes
    finally:
        for pid in reversed(held):
            os.kill(pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    # A clean stop leaves no ready files behind.
    assert not list((data / "run").glob("*/*.ready"))


@linux_only
def test_workers_die_with_a_killed_supervisor_and_the_port_serves_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_serve(data, workers=2)
    port = int(srv.url.rsplit(":", 1)[1])
    workers = _workers(srv.pid)
    assert len(workers) == 2
    srv.kill(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not all(gone(w) for w in workers):
        assert time.monotonic() < deadline, f"workers outlived their supervisor: {workers}"
        time.sleep(0.1)
    assert _status(srv.url) == 0  # nobody answers on the port
    again = start_serve(data, workers=2, port=port)
    try:
        assert _status(again.url) == 200
        # the killed serve's run folder was swept; only the new one is there
        assert [p.name for p in (data / "run").iterdir()] == [f"serve-{again.pid}"]
    finally:
        again.kill(signal.SIGTERM)


@pytest.fixture
def slow_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A service whose index takes 2 s to open, with a matcher key and one bank entry."""
    settings = Settings(data_dir=tmp_path / "data")
    db = open_database(database_url(settings))
    with db.session() as s:
        create_bank(s, name="b", actor="test")
        entry = NewContent(signals=(SignalValue("pdq", bytes.fromhex(PDQ), 90),))
        add_contents(s, bank_name="b", entries=[entry], actor="t")
        key = create_key(s, role=Role.MATCHER, actor="test", name="t").token
    real = web_index.open_matcher
    opened = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(2.0)
        try:
            return real(*args, **kwargs)
        finally:
            opened.set()

    monkeypatch.setattr(web_index, "open_matcher", slow)
    server = ServerThread(create_app(settings))
    server.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.port}", "key": key, "db": db, "opened": opened}
    finally:
        server.stop()
        db.dispose()


def test_a_lookup_at_a_loading_worker_waits_for_the_index(slow_service: dict[str, Any]) -> None:
    url, key = slow_service["url"], slow_service["key"]
    assert _status(url) == 503  # still loading
    r = httpx.get(
        f"{url}/m/raw_lookup",
        params={"signal_type": "pdq", "signal": PDQ},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert slow_service["opened"].is_set()
    assert r.status_code == 200, r.text
    assert len(r.json()["matches"]) == 1


def test_index_status_reports_changes_made_since_the_last_lookup(slow_service: dict[str, Any]) -> None:
    url, key, db = slow_service["url"], slow_service["key"], slow_service["db"]
    _wait_ready(url)
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{url}/m/index/status", headers=headers).json()["pdq"]["size"] == 1
    # 16 adds by another process's connection (as a CLI or another worker would make them)
    with db.session() as s:
        entries = [NewContent(signals=(SignalValue("pdq", bytes([i]) * 32, 90),)) for i in range(1, 17)]
        add_contents(s, bank_name="b", entries=entries, actor="t")
    body = httpx.get(f"{url}/m/index/status", headers=headers).json()
    assert body["pdq"]["size"] == 17, body
