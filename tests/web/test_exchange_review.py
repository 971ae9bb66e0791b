"""Review before matching on a mirror, and a per-exchange PDQ cap (issue 17, part 5): two instances
on loopback, each with its own database; lookups over HTTP (``POST /v1/match``) on the mirror."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from takeback.auth import Role
from takeback.banks import service as banks
from takeback.clock import utcnow
from takeback.errors import TakebackError
from takeback.exchanges import mirror
from takeback.signals import SignalValue
from takeback.web.index import CHECK_INTERVAL_S
from tests.banks.helpers import flip, rand_bytes
from tests.web.conftest import Service
from tests.web.test_exchange_feed import ACTOR, add, pair, publish

__all__ = ["pair"]  # the fixture, shared with test_exchange_feed


def pdq_of(svc: Service, bank: str) -> dict[int, str]:
    with svc.db.session() as s:
        return {
            v.id: v.signals["pdq"][0].hex()
            for v in banks.iter_contents(s, bank_name=bank)
            if "pdq" in v.signals
        }


def lookup(svc: Service, pdq: str, banks_: list[str] | None = None) -> list[dict[str, Any]]:
    # a write straight to the store reaches a worker's matcher at its next change-log check (at
    # most CHECK_INTERVAL_S later), as a CLI's would
    time.sleep(CHECK_INTERVAL_S * 1.5)
    r = svc.client(svc.admin).post("/v1/match", json={"pdq": pdq, **({"banks": banks_} if banks_ else {})})
    assert r.status_code == 200, r.text
    return list(r.json()["matches"])


def test_review_pending_holds_new_entries_until_accepted(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=6)
    add(mir, pub, token, key, review="pending")
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert report.ok and report.added == 8 and report.held == 8
    hashes = pdq_of(mir, "from-ngo")
    first, second = sorted(hashes)[:2]
    assert lookup(pub, hashes[first])  # the publisher matches it
    assert lookup(mir, hashes[first]) == []  # the mirror holds it
    with mir.db.session() as s:
        held = banks.list_held(s, bank_name="from-ngo")
        assert len(held) == 8 and {v.hold_reason for v in held} == {"pending_review"}
        assert all(v.held_until is None for v in held)  # until a curator accepts
        assert banks.bank_info(s, name="from-ngo").held_entries == 8
    # the curator's routes: a key scoped to another bank cannot see this one; a curator of it can
    other = mir.client(mir.key(Role.CURATOR, banks=[mir.bank("other")]))
    r = other.post("/v1/banks/from-ngo/held/accept", json={"content_ids": [first]})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_bank")
    curator = mir.client(mir.key(Role.CURATOR, banks=["from-ngo"]))
    listed = curator.get("/v1/banks/from-ngo/held", params={"reason": "pending_review"}).json()
    assert len(listed["held"]) == 8 and listed["held"][0]["held_until"] is None
    r = curator.post("/v1/banks/from-ngo/held/accept", json={"content_ids": [first, 424242]})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_content") and "424242" in r.json()["message"]
    r = curator.post("/v1/banks/from-ngo/held/accept", json={"content_ids": [first]})
    assert r.json() == {"accepted": 1, "rejected": 0}
    r = curator.post("/v1/banks/from-ngo/held/accept", json={"content_ids": [first]})
    assert (r.status_code, r.json()["code"]) == (409, "not_held")
    assert [m["content_id"] for m in lookup(mir, hashes[first])] == [first]
    assert lookup(mir, hashes[second]) == []
    # the publisher changes both: the accepted one stays accepted, the held one stays held
    with pub.db.session() as s:
        by_pdq = {
            v.signals["pdq"][0].hex(): v.id
            for v in banks.iter_contents(s, bank_name="ncii")
            if "pdq" in v.signals
        }
        for h in (hashes[first], hashes[second]):
            banks.set_content_note(s, bank_name="ncii", content_id=by_pdq[h], note="changed", actor=ACTOR)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert report.ok and report.updated == 2 and report.held == 0
    assert [m["note"] for m in lookup(mir, hashes[first])] == ["changed"]
    assert lookup(mir, hashes[second]) == []
    with mir.db.session() as s:
        assert banks.get_content(s, bank_name="from-ngo", content_id=second).hold_reason == "pending_review"
    # a removal of a held entry applies at once
    with pub.db.session() as s:
        banks.remove_contents(s, bank_name="ncii", content_ids=[by_pdq[hashes[second]]], actor=ACTOR)
    report = mirror.pull(mir.db, name="from-ngo", actor=ACTOR)
    assert report.ok and report.removed == 1
    with mir.db.session() as s:
        assert second not in {v.id for v in banks.list_held(s, bank_name="from-ngo")}
        assert banks.bank_info(s, name="from-ngo").entries == 7
    # the mirror's own feed publishes held entries as disabled, never as active
    with mir.db.session() as s:
        rec = next(
            v.to_record() for v in banks.iter_contents(s, bank_name="from-ngo") if v.hold_reason is not None
        )
    assert (rec["enabled"], rec["disabled_until"]) == (False, None)


def test_review_hours_let_held_entries_match_by_themselves(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=3)
    add(mir, pub, token, key, review="pending", review_hours=2)
    before = utcnow()
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).held == 5
    after = utcnow()
    with mir.db.session() as s:
        held = banks.list_held(s, bank_name="from-ngo")
    assert held and all(
        v.held_until is not None and before + timedelta(hours=2) <= v.held_until <= after + timedelta(hours=2)
        for v in held
    )
    from takeback.matching import Matcher, MatchQuery

    m = Matcher(mir.db)
    pdq = next(v.signals["pdq"][0] for v in held if "pdq" in v.signals)
    query = [MatchQuery.of("q", pdq=pdq)]
    assert m.match(query)[0].matches == []
    assert m.match(query, now=after + timedelta(hours=2, seconds=1))[0].matches  # lapsed: nothing ran


def test_max_pdq_distance_caps_the_banks_threshold(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=3)
    add(mir, pub, token, key, max_pdq_distance=4)
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).ok
    stored = bytes.fromhex(next(iter(pdq_of(mir, "from-ngo").values())))
    rng = np.random.default_rng(5)
    near, far = flip(stored, 4, rng).hex(), flip(stored, 10, rng).hex()
    assert lookup(pub, far)  # the publisher's threshold (31) matches at 10
    with mir.db.session() as s:  # a curator raising the mirror bank's threshold changes nothing
        banks.update_bank(s, name="from-ngo", pdq_threshold=50, actor="curator")
    assert lookup(mir, far) == []
    (hit,) = lookup(mir, near)
    assert (hit["distance"], hit["threshold"]) == (4, 4)
    with mir.db.session() as s:
        (st,) = mirror.statuses(s)
        assert st.max_pdq_distance == 4 and banks.bank_info(s, name="from-ngo").pdq_cap == 4
        mirror.configure_mirror(s, name="from-ngo", max_pdq_distance=None, actor=ACTOR)
    assert [m["distance"] for m in lookup(mir, far)] == [10]
    with mir.db.session() as s:
        mirror.configure_mirror(s, name="from-ngo", max_pdq_distance=0, actor=ACTOR)
    assert lookup(mir, near) == []
    assert [m["distance"] for m in lookup(mir, stored.hex())] == [0]


def test_review_and_cap_settings_are_checked(pair: tuple[Service, Service]) -> None:
    pub, mir = pair
    token, key = publish(pub, n=1)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"review": "maybe"}, "invalid_review"),
        ({"review": "pending", "review_hours": -1}, "invalid_review_hours"),
        ({"review": "pending", "review_hours": 0}, "invalid_review_hours"),
        ({"review": "none", "review_hours": 3}, "invalid_review_hours"),
        ({"max_pdq_distance": 257}, "invalid_pdq_cap"),
        ({"max_pdq_distance": -1}, "invalid_pdq_cap"),
    ]
    for kw, code in bad:
        with pytest.raises(TakebackError) as err:
            add(mir, pub, token, key, **kw)
        assert err.value.code == code, kw
    add(mir, pub, token, key)
    with mir.db.session() as s:
        mirror.configure_mirror(s, name="from-ngo", review="pending", review_hours=1.5, actor=ACTOR)
        (st,) = mirror.statuses(s)
        assert (st.review, st.review_hours) == ("pending", 1.5)
        with pytest.raises(TakebackError) as err:
            mirror.configure_mirror(s, name="from-ngo", review_hours=-2, actor=ACTOR)
        assert err.value.code == "invalid_review_hours"
        mirror.configure_mirror(s, name="from-ngo", review="none", actor=ACTOR)
        (st,) = mirror.statuses(s)
        assert (st.review, st.review_hours) == ("none", None)
    # entries already here when review is turned on keep matching
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).held == 0
    with mir.db.session() as s:
        mirror.configure_mirror(s, name="from-ngo", review="pending", actor=ACTOR)
        assert banks.list_held(s, bank_name="from-ngo") == []
    with pub.db.session() as s:
        banks.add_contents(
            s,
            bank_name="ncii",
            entries=[banks.NewContent(signals=(SignalValue("pdq", rand_bytes(np.random.default_rng(9))),))],
            actor=ACTOR,
        )
    assert mirror.pull(mir.db, name="from-ngo", actor=ACTOR).held == 1
