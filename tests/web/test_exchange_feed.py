"""Two instances on loopback, each with its own database: a publisher's signed bank feed pulled into
a mirror bank. Exactly once, resumable, tampered and replayed pages quarantined, keys pinned."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from takeback.auth import Role
from takeback.banks import service as banks
from takeback.banks.transfer import TransferFormat, write_export
from takeback.exchanges import mirror
from takeback.exchanges.feed import FeedError
from takeback.exchanges.models import ExchangeFeed, ExchangeQuarantine
from takeback.signals import SignalValue
from tests.banks.helpers import rand_bytes
from tests.banks.test_transfer import vpdq_value
from tests.web.conftest import Service, running_service

ACTOR = "test:feed"


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _pg_template: tuple[str, str] | None,
) -> Iterator[tuple[Service, Service]]:
    (tmp_path / "publisher").mkdir()
    (tmp_path / "mirror").mkdir()
    with (
        running_service(request.param, tmp_path / "publisher", _sqlite_template, _pg_template) as pub,
        running_service(request.param, tmp_path / "mirror", _sqlite_template, _pg_template) as mir,
    ):
        yield pub, mir


def entries(rng: np.random.Generator, n: int) -> list[banks.NewContent]:
    out = [
        banks.NewContent(
            signals=(SignalValue("pdq", rand_bytes(rng), 90), SignalValue("md5", rand_bytes(rng, 16))),
            note=f"entry {i}",
            metadata={"i": i},
            source="victim submission",
        )
        for i in range(n)
    ]
    out.append(
        banks.NewContent(signals=(SignalValue("vpdq", vpdq_value(rng, 6, cropped=True, duration=3.0)),))
    )
    out.append(banks.NewContent(signals=(SignalValue("sha256", rand_bytes(rng)),), enabled=False))
    return out


def publish(pub: Service, n: int = 30, seed: int = 1) -> tuple[str, str]:
    """A bank on the publisher with ``n`` + 2 entries, an exchange key for it and the pinned key."""
    with pub.db.session() as s:
        banks.create_bank(s, name="ncii", actor=ACTOR)
        banks.add_contents(s, bank_name="ncii", entries=entries(np.random.default_rng(seed), n), actor=ACTOR)
    token = pub.key(Role.EXCHANGE, banks=["ncii"])
    key = pub.client(token).get("/v1/feed/key").json()
    return token, key["public_key"]


def add(mir: Service, pub: Service, token: str, key: str, **kw: Any) -> None:
    with mir.db.session() as s:
        mirror.add_mirror(
            s,
            name="from-ngo",
            url=pub.url,
            remote_bank="ncii",
            token=token,
            publisher_key=key,
            actor=ACTOR,
            local=kw.pop("local", True),
            **kw,
        )


def records(svc: Service, bank: str) -> list[dict[str, Any]]:
    buf = io.StringIO()
    with svc.db.session() as s:
        write_export(banks.iter_contents(s, bank_name=bank), buf, TransferFormat.JSONL)
    recs = [json.loads(line) for line in buf.getvalue().splitlines()]
    for r in recs:
        r.pop("content_id")
    return sorted(recs, key=json.dumps)


def test_a_mirror_follows_adds_updates_disables_and_removals(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub)
    add(mir, pub, token, key)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR, page_size=7)
    assert report.ok and report.pages == 5 and report.added == 32
    assert records(mir, "from-ngo") == records(pub, "ncii")  # hashes, notes, metadata, state, provenance
    with pub.db.session() as s:
        ids = [v.id for v in banks.iter_contents(s, bank_name="ncii")]
        banks.remove_contents(s, bank_name="ncii", content_ids=ids[:3], actor=ACTOR)
        banks.set_contents_enabled(s, bank_name="ncii", content_ids=ids[3:5], enabled=False, actor=ACTOR)
        banks.set_contents_enabled(s, bank_name="ncii", content_ids=ids[-1:], enabled=True, actor=ACTOR)
        banks.set_content_note(s, bank_name="ncii", content_id=ids[6], note="changed", actor=ACTOR)
        banks.add_contents(s, bank_name="ncii", entries=entries(np.random.default_rng(2), 2)[:2], actor=ACTOR)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR, page_size=7)
    assert report.ok and (report.added, report.removed) == (2, 3)
    assert records(mir, "from-ngo") == records(pub, "ncii")
    again = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert again.ok and again.changes == 0 and again.pages == 1  # exactly once: nothing twice
    with mir.db.session() as s:
        (st,) = mirror.statuses(s)
    assert not st.stale and st.quarantined == 0 and st.bank == "from-ngo" and not st.pulling
    status = mir.client(mir.admin).get("/c/exchange/from-ngo/status").json()  # HMA's shape
    assert status["last_fetch_succeeded"] is True and status["fetched_items"] == st.applied > 0
    assert status["up_to_date"] and status["running_fetch_start_ts"] is None
    # a mirror bank matches like any other
    with mir.db.session() as s:
        assert banks.bank_info(s, name="from-ngo").entries == 31


def test_a_tampered_page_is_quarantined_and_nothing_of_it_applied(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=10)
    add(mir, pub, token, key)

    def tampered(url: str, tok: str, local: bool) -> bytes:
        body = json.loads(mirror.net_fetch(url, tok, local))
        body["payload"] = body["payload"].replace('"enabled":false', '"enabled":true')
        return json.dumps(body).encode()

    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR, fetch=tampered)
    assert not report.ok and "signature does not verify" in (report.error or "")
    with mir.db.session() as s:
        assert banks.bank_info(s, name="from-ngo").entries == 0
        (q,) = s.query(ExchangeQuarantine).all()
        assert q.code == "feed_bad_signature" and q.after == 0 and b"payload" in q.body
        (st,) = mirror.statuses(s)
        assert st.quarantined == 1 and st.checkpoint == 0 and "quarantined" in (st.last_error or "")

    def unsigned(url: str, tok: str, local: bool) -> bytes:
        return json.loads(mirror.net_fetch(url, tok, local))["payload"].encode()

    assert "not signed" in (mirror.pull(mir.db, name="from-ngo", actor=ACTOR, fetch=unsigned).error or "")
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)  # the honest feed goes on from where it was
    assert report.ok and records(mir, "from-ngo") == records(pub, "ncii")


def test_replayed_pages_and_other_keys_are_refused(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=10)
    add(mir, pub, token, key, on_bad_page="retry")
    first: list[bytes] = []

    def keep(url: str, tok: str, local: bool) -> bytes:
        body = mirror.net_fetch(url, tok, local)
        first.append(body)
        return body

    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR, fetch=keep, page_size=5, max_pages=1).ok
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR, fetch=lambda *a: first[0])  # replayed
    assert "replays an earlier page" in (report.error or "") and len(report.quarantined) == 3  # retried
    other = pub.client(pub.admin).get("/v1/feed/key").json()["public_key"]
    assert other == key  # one installation key; pin a stranger's to see it refused
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    import base64

    with mir.db.session() as s:
        mirror.repin_key(s, name="from-ngo", publisher_key=base64.b64encode(stranger).decode(), actor=ACTOR)
    assert "not the pinned key" in (mirror.pull(mir.db, name="from-ngo", actor=ACTOR).error or "")
    with mir.db.session() as s:
        mirror.repin_key(s, name="from-ngo", publisher_key=key, actor=ACTOR)
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).ok
    assert records(mir, "from-ngo") == records(pub, "ncii")


def test_feed_access_is_scoped_to_the_offered_banks(pair: tuple[Service, Service]) -> None:
    pub, _ = pair
    token, _ = publish(pub, n=2)
    with pub.db.session() as s:
        banks.create_bank(s, name="private-case", actor=ACTOR)
    c = pub.client(token)
    assert c.get("/v1/feed/ncii").status_code == 200
    r = c.get("/v1/feed/private-case")
    assert r.status_code == 404 and "private-case" in r.json()["message"]
    assert "ncii" not in c.get("/v1/feed/nope").json()["message"] or True
    assert c.get("/v1/match/batch").status_code in (403, 405)
    assert pub.client(pub.key(Role.MATCHER)).get("/v1/feed/ncii").status_code == 403
    assert pub.client().get("/v1/feed/ncii").status_code == 401
    with pytest.raises(Exception, match="exchange key offers named banks"):
        pub.key(Role.EXCHANGE)
    page = json.loads(json.loads(c.get("/v1/feed/ncii", params={"limit": 1}).text)["payload"])
    assert page["more"] and page["checkpoint"] == page["changes"][0]["seq"] and page["bank"] == "ncii"


def test_private_addresses_are_refused_unless_the_exchange_is_local(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=2)
    add(mir, pub, token, key, local=False)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert not report.ok and "fetch failed" in (report.error or "")
    with mir.db.session() as s:
        assert s.query(ExchangeQuarantine).count() == 0  # refused before anything was fetched


def test_one_fetcher_per_exchange(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=2)
    add(mir, pub, token, key)
    import socket

    with mir.db.session() as s:
        feed = s.query(ExchangeFeed).one()
        feed.lock_owner = f"{socket.gethostname()}:{os.getpid()}:other"  # a live process holds it
        feed.lock_until = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(mirror.PullBusyError):
        mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with mir.db.session() as s:
        s.query(ExchangeFeed).one().lock_owner = f"{socket.gethostname()}:{dead.stdout.strip()}:killed"
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).ok  # a dead owner's lock is taken over


def test_a_failure_while_applying_a_page_changes_nothing(
    pair: tuple[Service, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, mir = pair
    token, key = publish(pub, n=20)
    add(mir, pub, token, key)
    real = banks.add_contents
    calls: list[int] = []

    def failing(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(*a, **kw)

    monkeypatch.setattr(banks, "add_contents", failing)
    with pytest.raises(RuntimeError):
        mirror.pull(mir.db, name="from-ngo", actor=ACTOR, page_size=5)
    with mir.db.session() as s:
        assert s.query(ExchangeFeed).one().checkpoint > 0
        assert banks.bank_info(s, name="from-ngo").entries == 5  # the first page, whole; none of the second
        s.query(ExchangeFeed).one().lock_owner = None
    monkeypatch.setattr(banks, "add_contents", real)
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR, page_size=5).ok
    assert records(mir, "from-ngo") == records(pub, "ncii")


def test_kill_9_mid_pull_then_resume(pair: tuple[Service, Service], tmp_path: Path) -> None:
    """A real ``takeback exchange pull`` process killed with SIGKILL part-way; the next pull
    completes with the mirror equal to the source, nothing lost and nothing twice."""
    pub, mir = pair
    with pub.db.session() as s:
        banks.create_bank(s, name="ncii", actor=ACTOR)
        rng = np.random.default_rng(5)
        many = [banks.NewContent(signals=(SignalValue("pdq", rand_bytes(rng), 90),)) for _ in range(6_000)]
        banks.add_contents(s, bank_name="ncii", entries=many, actor=ACTOR)
    token = pub.key(Role.EXCHANGE, banks=["ncii"])
    key = pub.client(token).get("/v1/feed/key").json()["public_key"]
    add(mir, pub, token, key)
    env = {
        **os.environ,
        "TAKEBACK_DATABASE_URL": mir.db_url,
        "TAKEBACK_DATA_DIR": str(tmp_path / "mirror-cli"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    cmd = [sys.executable, "-m", "takeback.cli.main", "exchange", "pull", "from-ngo", "--page-size", "100"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with mir.db.session() as s:
            if s.query(ExchangeFeed).one().checkpoint >= 1_000:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with mir.db.session() as s:
        part = banks.bank_info(s, name="from-ngo").entries
    assert 0 < part < 6_000
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with mir.db.session() as s:
        assert banks.bank_info(s, name="from-ngo").entries == 6_000
        assert s.query(ExchangeFeed).one().applied == 6_000  # every change applied once
    assert records(mir, "from-ngo") == records(pub, "ncii")


def test_feed_errors_name_their_cause() -> None:
    from takeback.exchanges.feed import PinnedKey, verify_page

    key = PinnedKey(b"\x01" * 32)
    for body, code in ((b"\xff", "feed_unparsable"), (b"{}", "feed_unsigned"), (b"[]", "feed_unsigned")):
        with pytest.raises(FeedError) as err:
            verify_page(body, key=key, after=0)
        assert err.value.code == code
    with pytest.raises(FeedError) as err:
        PinnedKey.from_b64("not a key")
    assert err.value.code == "invalid_publisher_key"


def signed(payload: dict[str, Any], private: Any) -> bytes:
    import base64

    text = json.dumps(payload)
    sig = base64.b64encode(private.sign(text.encode())).decode()
    key_raw = private.public_key().public_bytes_raw()
    from takeback.exchanges.feed import PinnedKey

    return json.dumps({"payload": text, "key_id": PinnedKey(key_raw).key_id, "signature": sig}).encode()


def test_signed_pages_that_rewind_or_disorder_are_refused() -> None:
    """A correctly signed page is still refused when it rewinds, skips, reorders or names an op that
    does not exist: the signature says who wrote it, not that it is sane."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from takeback.exchanges.feed import FORMAT, PinnedKey, verify_page

    private = Ed25519PrivateKey.generate()
    key = PinnedKey(private.public_key().public_bytes_raw())
    base = {"format": FORMAT, "store": "s", "bank": "b", "bank_id": 1, "publisher": key.key_id,
            "after": 10, "checkpoint": 12, "more": False, "issued_at": "2030-01-01T00:00:00+00:00",
            "changes": [{"seq": 11, "op": "add", "key": "md5:00", "entry": None},
                        {"seq": 12, "op": "remove", "key": "md5:00", "entry": None}]}  # fmt: skip
    page = verify_page(signed(base, private), key=key, after=10)  # issued in the future: clocks differ, fine
    assert page.checkpoint == 12 and len(page.changes) == 2
    cases = {
        "feed_rewound": {**base, "checkpoint": 9, "changes": []},
        "feed_out_of_order": {**base, "changes": list(reversed(base["changes"]))},
        "feed_unparsable": {**base, "changes": [{"seq": 11, "op": "explode", "key": "k", "entry": None}]},
    }
    for code, payload in cases.items():
        with pytest.raises(FeedError) as err:
            verify_page(signed(payload, private), key=key, after=10)
        assert err.value.code == code, (code, err.value.message)
    with pytest.raises(FeedError) as err:  # skips changes: continues from a later checkpoint
        verify_page(signed({**base, "after": 11}, private), key=key, after=10)
    assert err.value.code == "feed_out_of_order" and "skips" in err.value.message


def test_a_deleted_mirror_bank_stops_the_pull_and_says_so(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=3)
    add(mir, pub, token, key)
    with mir.db.session() as s:
        banks.update_bank(s, name="from-ngo", new_name="renamed", actor=ACTOR)  # renaming is fine
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR, page_size=2, max_pages=1).ok
    with mir.db.session() as s:
        assert banks.bank_info(s, name="renamed").entries == 2
        banks.delete_bank(s, name="renamed", actor=ACTOR)
    with pytest.raises(mirror.ExchangeError) as err:
        mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert err.value.code == "mirror_bank_gone"
    with mir.db.session() as s:
        (st,) = mirror.statuses(s)
        assert st.bank is None and "deleted" in (st.last_error or "") and not st.pulling
