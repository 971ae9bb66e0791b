"""Matching over HTTP: per-bank thresholds, allow-lists, dihedral matching, metadata in responses,
freshness across processes, and the audit row of every lookup that matched."""

from __future__ import annotations

import io
import json
import time

import numpy as np
from PIL import Image
from sqlalchemy import select

from takeback.auth import Role
from takeback.banks.service import NewContent, add_contents
from takeback.signals import SignalValue
from takeback.store import AuditEvent
from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service


def flip_bits(hex_hash: str, n: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(n):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


def test_per_bank_thresholds(service: Service) -> None:
    c = service.client(service.admin)
    strict = service.bank("strict", pdq_threshold=4)
    loose = service.bank("loose")
    base = "5a" * 32
    strict_id = c.post(f"/c/bank/{strict}/signal", json={"pdq": base}).json()["id"]
    loose_id = c.post(f"/c/bank/{loose}/signal", json={"pdq": base}).json()["id"]
    query = flip_bits(base, 10)
    r = c.get("/m/lookup", params={"signal_type": "pdq", "signal": query, "banks": f"{strict},{loose}"})
    assert r.json() == {loose: [{"bank_content_id": loose_id, "distance": "10"}]}
    near = flip_bits(base, 3)
    r = c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": near, "banks": f"{strict},{loose}"})
    assert sorted(r.json()["matches"]) == sorted([strict_id, loose_id])
    body = c.post("/v1/match", json={"pdq": query, "banks": [strict, loose]}).json()
    assert [(m["bank"], m["distance"], m["threshold"]) for m in body["matches"]] == [(loose, 10, 31)]


def test_allow_list_suppresses_and_v1_explains(service: Service) -> None:
    c = service.client(service.admin)
    block = service.bank("block")
    benign = service.bank("benign", allow_list=True)
    pdq = "c3" * 32
    block_id = c.post(f"/c/bank/{block}/signal", json={"pdq": pdq, "note": "victim report"}).json()["id"]
    benign_id = c.post(f"/c/bank/{benign}/signal", json={"pdq": flip_bits(pdq, 2)}).json()["id"]
    # HMA routes act on effective matches only: the allow-listed content is not reported
    r = c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq, "banks": block})
    assert r.json() == {"matches": []}
    body = c.post("/v1/match", json={"pdq": pdq, "banks": [block]}).json()
    assert body["status"] == "allow_listed"
    by_bank = {m["bank"]: m for m in body["matches"]}
    assert by_bank[block]["content_id"] == block_id
    assert by_bank[block]["suppressed_by"]["content_id"] == benign_id
    assert by_bank[block]["note"] == "victim report"
    assert by_bank[benign]["allow_list"] is True
    assert "suppressed by allow-list entry" in by_bank[block]["explanation"]


def test_disabled_bank_does_not_match(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("toggle")
    pdq = "3c" * 32
    cid = c.post(f"/c/bank/{bank}/signal", json={"pdq": pdq}).json()["id"]
    assert c.put(f"/c/bank/{bank}", json={"enabled": False}).json()["matching_enabled_ratio"] == 0.0
    q = {"signal_type": "pdq", "signal": pdq}
    assert c.get("/m/lookup", params=q).json() == {}
    # HMA's raw lookup reads no enabled state (the index's answer): it still names the entry
    assert c.get("/m/raw_lookup", params=q).json() == {"matches": [cid]}
    c.put(f"/c/bank/{bank}", json={"enabled": True})
    assert c.get("/m/lookup", params=q).json() == {bank: [{"bank_content_id": cid, "distance": "0"}]}


def test_dihedral_matching_of_uploads(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("rot")
    pixels = synthetic_photo(480, 360, seed=21)
    original = encode(pixels, quality=95)
    cid = c.post(f"/c/bank/{bank}/content", files={"photo": ("o.jpg", original)}).json()["id"]
    buf = io.BytesIO()
    Image.fromarray(np.rot90(pixels)).save(buf, "JPEG", quality=95)
    rotated = buf.getvalue()
    plain = c.post("/m/lookup", params={"banks": bank}, files={"photo": ("r.jpg", rotated)}).json()
    assert plain["pdq"] == {}
    turned = c.post(
        "/m/lookup", params={"banks": bank, "dihedral": "true"}, files={"photo": ("r.jpg", rotated)}
    ).json()
    assert [e["bank_content_id"] for e in turned["pdq"][bank]] == [cid]
    body = c.post(
        "/v1/match", params={"banks": bank, "dihedral": "true"}, files={"photo": ("r.jpg", rotated)}
    )
    (m,) = [m for m in body.json()["matches"] if m["signal_type"] == "pdq"]
    assert m["orientation"] not in (None, "original") and m["distance"] <= 31
    r = c.post("/v1/match", params={"dihedral": "true"}, json={"pdq": "00" * 32})
    assert r.status_code == 422 and r.json()["field"] == "dihedral"


def test_metadata_in_match_responses(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("meta")
    meta = {"content_id": "case-17", "json": {"platform": "x", "reported": "2026-11-01"}}
    photo = encode(synthetic_photo(160, 120, seed=17))
    # HMA takes metadata with content (its /signal route reads every other key as a signal type)
    r = c.post(
        f"/c/bank/{bank}/content",
        files={"photo": ("a.jpg", photo)},
        data={"metadata": json.dumps(meta), "note": "n"},
    )
    assert r.status_code == 200, r.text
    cid, pdq = r.json()["id"], r.json()["signals"]["pdq"]
    r = c.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq, "include_metadata": "true"})
    assert r.json()[bank] == [{"bank_content_id": cid, "distance": "0", "note": "n", "metadata": meta}]
    batch = c.post("/v1/match/batch", json={"hashes": [pdq], "banks": [bank]}).json()
    assert batch["results"][0]["matches"][0]["metadata"] == meta


def test_writes_from_another_process_are_seen_within_moments(service: Service) -> None:
    bank = service.bank("fresh")
    pdq = "7e" * 32
    c = service.client(service.admin)
    assert c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq}).json() == {"matches": []}
    with service.db.session() as s:  # as `takeback bank add-hash` would, outside the server
        (outcome,) = add_contents(
            s,
            bank_name=bank,
            entries=[NewContent(signals=(SignalValue("pdq", bytes.fromhex(pdq)),))],
            actor="cli",
        )
    started = time.monotonic()
    while c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq}).json() != {
        "matches": [outcome.content_id]
    }:
        assert time.monotonic() - started < 2.0, "the change was not picked up"
        time.sleep(0.02)


def test_matched_lookups_are_audited_with_the_key_id(service: Service) -> None:
    bank = service.bank("audited")
    pdq = "e1" * 32
    service.client(service.admin).post(f"/c/bank/{bank}/signal", json={"pdq": pdq})
    token = service.key(Role.MATCHER)
    key_id = token.split("_")[1]
    user = service.client(token)
    assert user.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": "1e" * 32}).json() == {
        "matches": []
    }
    assert user.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq}).json()["matches"]
    user.post("/v1/match/batch", json={"hashes": [pdq, "00" * 32, pdq]})
    with service.db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.actor == f"key:{key_id}")).all()
    assert [r.action for r in rows] == ["lookup.match", "lookup.match"]  # the miss is not logged
    single, batch = rows
    assert single.details["route"] == "raw_lookup" and single.details["matched_queries"] == 1
    assert batch.details["queries"] == 3 and batch.details["matched_queries"] == 2
    assert [m[0] for m in batch.details["matches"]] == [0, 2]
    assert token not in str([r.details for r in rows]) and pdq not in str([r.details for r in rows])
