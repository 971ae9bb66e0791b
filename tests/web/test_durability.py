"""A real ``takeback serve`` process: SIGKILL mid-write loses nothing acknowledged; SIGTERM drains.

"Acknowledged" means a 2xx response reached the client. Writes commit before the response is sent
and matched-lookup audit rows are committed (group commit) before the lookup answers, so after a
SIGKILL every acknowledged entry and audit row must be in the database.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import func, select

from takeback.banks.models import BankContent, ContentSignal
from takeback.store import AuditEvent, open_database
from tests.conftest import encode, synthetic_photo
from tests.web.procserver import start_serve


def test_sigkill_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    srv = start_serve(tmp_path / "data", db_url=db_url)
    assert srv.admin, srv.log.read_text()
    headers = {"Authorization": f"Bearer {srv.admin}"}
    with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as c:
        assert c.post("/c/banks", json={"name": "KILL_TEST"}).status_code == 201
        known = "a" * 64
        assert c.post("/c/bank/KILL_TEST/signal", json={"pdq": known}).status_code == 200  # HMA's 200

    added: list[tuple[int, str]] = []
    matched_lookups = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as c:
            while not stop.is_set():
                pdq = rng.randbytes(32).hex()
                try:
                    r = c.post("/c/bank/KILL_TEST/signal", json={"pdq": pdq})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    with lock:
                        added.append((r.json()["id"], pdq))

    def looker() -> None:
        with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": known})
                except httpx.TransportError:
                    return
                if r.status_code == 200 and r.json()["matches"]:
                    with lock:
                        matched_lookups[0] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=looker) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while (len(added) < 60 or matched_lookups[0] < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(added) >= 60 and matched_lookups[0] >= 20

    db = open_database(db_url)
    try:
        with db.session() as s:
            rows = dict(
                s.execute(
                    select(BankContent.id, ContentSignal.value).join(
                        ContentSignal, ContentSignal.content_id == BankContent.id
                    )
                ).all()
            )
            for content_id, pdq in added:
                assert bytes(rows[content_id]).hex() == pdq
            audited = s.scalar(select(func.count()).where(AuditEvent.action == "lookup.match"))
            assert audited is not None and audited >= matched_lookups[0]
            adds = s.scalar(select(func.count()).where(AuditEvent.action == "bank.content.add"))
            assert adds is not None and adds >= len(added) + 1
    finally:
        db.dispose()
    # and the service comes back up on the same data, serving what was acknowledged
    again = start_serve(tmp_path / "data", db_url=db_url)
    try:
        key = {"Authorization": f"Bearer {srv.admin}"}
        content_id, pdq = added[-1]
        r = httpx.get(f"{again.url}/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq}, headers=key)
        assert r.json() == {"matches": [content_id]}
    finally:
        again.kill(signal.SIGTERM)


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    srv = start_serve(tmp_path / "data")
    headers = {
        "Authorization": f"Bearer {srv.admin}",
        "Content-Type": "multipart/form-data; boundary=b0undary",
    }
    big = encode(synthetic_photo(4000, 3000, seed=3), quality=95)
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n\r\n'
        + big
        + b"\r\n--b0undary--\r\n"
    )
    results: list[int] = []
    sent = [threading.Event() for _ in range(4)]

    def upload(i: int) -> None:
        def stream() -> Iterator[bytes]:
            yield body
            sent[i].set()  # the whole request is on the wire: it is in flight

        with httpx.Client(base_url=srv.url, headers=headers, timeout=120) as c:
            results.append(c.post("/h/hash", content=stream()).status_code)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for e in sent:
        assert e.wait(60)
    time.sleep(0.05)
    code = srv.kill(signal.SIGTERM)
    for t in threads:
        t.join(timeout=120)
    # Uvicorn re-raises the signal once drained, so the exit status says "terminated by SIGTERM".
    assert code in (0, -signal.SIGTERM), srv.log.read_text()
    assert results == [200, 200, 200, 200], srv.log.read_text()
    assert "Application shutdown complete" in srv.log.read_text()
