"""Feedback round trip between two instances on loopback (issue 17, part 4): platforms on a mirror
say a match was wrong; the opinions are queued, sent to the source over the mirror's channel,
counted there; past the source bank's dispute threshold the entry is held and stops matching; the
source's hold, then its removal, reach the mirror on the next pulls. A source that is down gets
the opinions later; a resend changes nothing; a sender not scoped to the bank is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from takeback.auth import Role
from takeback.banks import feedback as fb
from takeback.banks import service as banks
from takeback.config import get_settings
from takeback.exchanges import feedback, mirror
from takeback.exchanges.models import ExchangeFeed, FeedbackOutbox
from takeback.store import AuditEvent
from tests.banks.helpers import Cli
from tests.web.conftest import Service
from tests.web.test_exchange_feed import ACTOR, add, pair, publish, records

__all__ = ["pair"]  # the two-instance fixture, shared with the feed tests


def setup(pair: tuple[Service, Service], threshold: int = 2) -> tuple[Service, Service, dict[str, Any]]:
    """A source bank mirrored and pulled; the first PDQ entry on both sides."""
    pub, mir = pair
    token, key = publish(pub, n=4)
    add(mir, pub, token, key)
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).ok
    with pub.db.session() as s:
        fb.set_dispute_threshold(s, bank_name="ncii", threshold=threshold, actor=ACTOR)
        src = next(v for v in banks.iter_contents(s, bank_name="ncii") if "pdq" in v.signals)
    with mir.db.session() as s:
        local = next(v for v in banks.iter_contents(s, bank_name="from-ngo") if v.signals == src.signals)
    pdq = src.signals["pdq"][0].hex()
    return pub, mir, {"source_id": src.id, "mirror_id": local.id, "pdq": pdq, "token": token}


def matches(svc: Service, bank: str, pdq: str) -> list[int]:
    r = svc.client(svc.admin).post("/v1/match", json={"pdq": pdq, "banks": [bank]})
    assert r.status_code == 200, r.text
    return [m["content_id"] for m in r.json()["matches"]]


def audit(svc: Service, action: str) -> list[dict[str, Any]]:
    with svc.db.session() as s:
        return [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_negative_feedback_reaches_the_source_and_a_disputed_entry_stops_matching(
    pair: tuple[Service, Service], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, mir, e = setup(pair)
    assert matches(pub, "ncii", e["pdq"]) == [e["source_id"]]
    assert matches(mir, "from-ngo", e["pdq"]) == [e["mirror_id"]]
    platforms = [mir.client(mir.key(Role.MATCHER, banks=["from-ngo"])) for _ in range(2)]
    for n, platform in enumerate(platforms):
        r = platform.post(
            "/v1/feedback",
            json={"bank": "from-ngo", "content_id": e["mirror_id"], "opinion": "negative", "note": f"fp {n}"},
        )
        assert r.status_code == 200, r.text
        (res,) = r.json()["results"]
        assert res["queued"] and res["changed"] and res["counts"]["negative"] == n + 1
    assert matches(mir, "from-ngo", e["pdq"]) == [e["mirror_id"]]  # under the mirror's own threshold (3)
    with mir.db.session() as s:
        assert [r.state for r in s.scalars(select(FeedbackOutbox))] == ["pending", "pending"]
    # the source hears nothing until the push (run here by the CLI's pull, at its end)
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]]) == {}
    env = {"TAKEBACK_DATABASE_URL": mir.db_url, "TAKEBACK_DATA_DIR": str(tmp_path / "mirror-cli")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    cli = Cli(env)
    done = cli("exchange", "pull", "from-ngo")
    assert done.exit_code == 0, done.output
    assert "2 opinion(s) sent" in done.output
    with pub.db.session() as s:
        counts = fb.counts_of(s, content_ids=[e["source_id"]])[e["source_id"]]
        summary = fb.bank_feedback(s, bank_name="ncii")
        (held,) = banks.list_held(s, bank_name="ncii", reason="disputed")
        notes = [o["note"] for o in fb.opinions_of(s, bank_name="ncii", content_id=e["source_id"])]
    assert counts == fb.OpinionCounts(negative=2) and held.id == e["source_id"]
    assert (summary.negative, summary.negatives, summary.quarantined) == (1, 2, 1)
    assert notes == ["fp 0", "fp 1"]
    assert matches(pub, "ncii", e["pdq"]) == []  # past the threshold: held, no longer matching
    # bank show on the source reports it (JSON)
    shown = Cli({"TAKEBACK_DATABASE_URL": pub.db_url, "TAKEBACK_DATA_DIR": str(tmp_path / "pub-cli")})
    monkeypatch.setenv("TAKEBACK_DATABASE_URL", pub.db_url)
    get_settings.cache_clear()
    out = shown("bank", "show", "ncii", "--format", "json")
    assert '"negatives": 2' in out.output and '"quarantined": 1' in out.output
    # audited on both sides: given, queued, sent; received, recorded (via the exchange key), held
    assert len(audit(mir, "feedback.queue")) == 2 and len(audit(mir, "feedback.send")) == 1
    received = audit(pub, "feedback.receive")
    assert received == [{"recorded": 2, "unchanged": 0, "refused": 0}]
    assert {d["via"] for d in audit(pub, "feedback.opinion")} == {f"key:{e['token'].split('_')[1]}"}
    assert [d["content_id"] for d in audit(pub, "feedback.quarantine")] == [e["source_id"]]
    # the source's hold publishes as disabled: the mirror stops matching it at its next pull
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).ok
    with mir.db.session() as s:
        assert not banks.get_content(s, bank_name="from-ngo", content_id=e["mirror_id"]).enabled
    # the curator at the source removes it: the removal reaches the mirror on the next pull
    with pub.db.session() as s:
        banks.remove_contents(s, bank_name="ncii", content_ids=[e["source_id"]], actor=ACTOR)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert report.ok and report.removed == 1
    assert records(mir, "from-ngo") == records(pub, "ncii")


def test_a_source_that_is_down_gets_the_feedback_later_and_a_resend_changes_nothing(
    pair: tuple[Service, Service],
) -> None:
    pub, mir, e = setup(pair, threshold=5)
    platform = mir.client(mir.key(Role.MATCHER))
    r = platform.post("/v1/feedback", json={"signal_type": "pdq", "hash": e["pdq"], "opinion": "positive"})
    assert r.status_code == 200 and [x["content_id"] for x in r.json()["results"]] == [e["mirror_id"]]

    def down(url: str, body: bytes, token: str, local: bool) -> tuple[int, bytes]:
        return feedback.net_post(url.replace(pub.url, "http://127.0.0.1:9"), body, token, local)

    report = feedback.push(mir.db, name="from-ngo", actor=ACTOR, post=down)
    assert not report.ok and report.failed == 1 and report.pending == 1
    with mir.db.session() as s:
        row = s.scalars(select(FeedbackOutbox)).one()
        assert row.state == "pending" and row.attempts == 1 and "Could not reach" in (row.last_error or "")
        first_retry = row.next_attempt_at
    assert audit(mir, "feedback.send_failed")[0]["retry_in_s"] == 60
    again = feedback.push(mir.db, name="from-ngo", actor=ACTOR)  # not due yet: nothing is sent
    assert again.ok and again.sent == 0 and again.pending == 1
    assert feedback.push(mir.db, name="from-ngo", actor=ACTOR, post=down, retry_now=True).failed == 1
    with mir.db.session() as s:
        row = s.scalars(select(FeedbackOutbox)).one()
        assert row.attempts == 2 and row.next_attempt_at > first_retry  # backoff doubled
    sent = feedback.push(mir.db, name="from-ngo", actor=ACTOR, retry_now=True)  # the source is back
    assert sent.ok and sent.sent == 1 and sent.pending == 0
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]])[e["source_id"]] == fb.OpinionCounts(positive=1)
    # the acknowledgement was lost: the same opinion is sent again, and the source changes nothing
    with mir.db.session() as s:
        s.scalars(select(FeedbackOutbox)).one().state = "pending"
    opinions_before = len(audit(pub, "feedback.opinion"))
    resent = feedback.push(mir.db, name="from-ngo", actor=ACTOR, retry_now=True)
    assert resent.ok and (resent.sent, resent.unchanged) == (0, 1)
    assert len(audit(pub, "feedback.opinion")) == opinions_before
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]])[e["source_id"]] == fb.OpinionCounts(positive=1)
    # the platform changes its mind: the new opinion replaces the old one at the source
    platform.post(
        "/v1/feedback", json={"bank": "from-ngo", "content_id": e["mirror_id"], "opinion": "negative"}
    )
    assert feedback.push(mir.db, name="from-ngo", actor=ACTOR).sent == 1
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]])[e["source_id"]] == fb.OpinionCounts(negative=1)


def test_only_an_exchange_key_scoped_to_the_bank_may_relay_feedback(pair: tuple[Service, Service]) -> None:
    pub, mir, e = setup(pair)
    with pub.db.session() as s:
        banks.create_bank(s, name="other", actor=ACTOR)
    item = {"key": f"pdq:{e['pdq']}", "giver": "key:forged", "opinion": "negative"}
    forged = pub.client(pub.key(Role.EXCHANGE, banks=["other"]))
    r = forged.post("/v1/feed/ncii/feedback", json={"items": [item]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bank"
    matcher = pub.client(pub.key(Role.MATCHER, banks=["ncii"]))
    r = matcher.post("/v1/feed/ncii/feedback", json={"items": [item]})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert pub.client().post("/v1/feed/ncii/feedback", json={"items": [item]}).status_code == 401
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]]) == {}
    # the rightful key: one result per item; an entry the source does not hold is refused by name
    honest = pub.client(e["token"])
    unknown = {"key": "pdq:" + "00" * 32, "giver": "key:x", "opinion": "negative"}
    bad = {"key": f"pdq:{e['pdq']}", "giver": "key:y", "opinion": "maybe"}
    r = honest.post("/v1/feed/ncii/feedback", json={"items": [item, unknown, bad]})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert [x["status"] for x in got] == ["recorded", "refused", "refused"]
    assert (got[1]["code"], got[2]["code"]) == ("unknown_content", "invalid_opinion")
    assert honest.post("/v1/feed/ncii/feedback", json={"items": [item]}).json()["results"][0]["status"] == (
        "unchanged"
    )
    r = honest.post("/v1/feed/ncii/feedback", json={"items": [item] * 501})
    assert r.status_code == 422
    # a mirror whose key was revoked keeps its opinions queued, with the source's word
    with mir.db.session() as s:
        s.scalars(select(ExchangeFeed)).one().token = "tbk_aaaaaaaaaaaa_" + "A" * 43
    mir.client(mir.key(Role.MATCHER)).post(
        "/v1/feedback", json={"bank": "from-ngo", "content_id": e["mirror_id"], "opinion": "negative"}
    )
    report = feedback.push(mir.db, name="from-ngo", actor=ACTOR)
    assert not report.ok and "HTTP 401" in (report.error or "") and report.pending == 1


def test_an_opinion_on_an_entry_the_source_removed_is_refused_for_good(pair: tuple[Service, Service]) -> None:
    pub, mir, e = setup(pair)
    with pub.db.session() as s:
        banks.remove_contents(s, bank_name="ncii", content_ids=[e["source_id"]], actor=ACTOR)
    mir.client(mir.key(Role.MATCHER)).post(
        "/v1/feedback", json={"bank": "from-ngo", "content_id": e["mirror_id"], "opinion": "negative"}
    )
    report = feedback.push(mir.db, name="from-ngo", actor=ACTOR)
    assert report.ok and len(report.refused) == 1 and "unknown_content" in report.refused[0]
    with mir.db.session() as s:
        (row,) = feedback.outbox(s, name="from-ngo")
    assert row["state"] == "refused" and report.pending == 0
    assert audit(mir, "feedback.refused")[0]["reason"].startswith("unknown_content")


def test_bad_feedback_gets_clear_errors(pair: tuple[Service, Service]) -> None:
    pub, _, e = setup(pair)
    platform = pub.client(pub.key(Role.MATCHER, banks=["ncii"]))

    def post(**body: Any) -> tuple[int, dict[str, Any]]:
        r = platform.post("/v1/feedback", json=body)
        return r.status_code, r.json()

    ok = {"bank": "ncii", "content_id": e["source_id"]}
    status, body = post(**ok, opinion="maybe")
    assert (status, body["code"], body["field"]) == (422, "invalid_opinion", "opinion")
    assert "positive, negative, investigation_seed" in body["message"]
    status, body = post(**ok, opinion="negative", note="x" * 5_000)
    assert (status, body["code"], body["field"]) == (422, "invalid_note", "note")
    status, body = post(bank="ncii", content_id=999_999, opinion="negative")
    assert (status, body["code"]) == (404, "unknown_content")
    status, body = post(bank="nope", content_id=1, opinion="negative")
    assert (status, body["code"]) == (404, "unknown_bank")
    status, body = post(opinion="negative")
    assert (status, body["code"]) == (422, "invalid_request")
    status, body = post(**ok, signal_type="pdq", hash=e["pdq"], opinion="negative")
    assert (status, body["code"]) == (422, "invalid_request")
    status, body = post(signal_type="pdq", hash="00" * 32, opinion="negative")
    assert (status, body["code"]) == (404, "unknown_content")
    status, body = post(signal_type="pdq", hash="nothex", opinion="negative")
    assert (status, body["field"]) == (422, "hash")
    status, body = post(bank="ncii", opinion="negative")
    assert (status, body["field"]) == (422, "content_id")
    assert (
        pub.client(pub.key(Role.SUBMITTER))
        .post("/v1/feedback", json={**ok, "opinion": "negative"})
        .status_code
        == 403
    )
    with pub.db.session() as s:
        assert fb.counts_of(s, content_ids=[e["source_id"]]) == {}  # none of it was recorded
