"""``POST /v1/match/batch`` item by item: well-formed batches (decoded in one call) and batches that
need per-item checks answer alike; allow-lists, key scope and exact types on the batch path."""

from __future__ import annotations

import numpy as np

from takeback.auth import Role

from .conftest import Service


def _hex(rng: np.random.Generator, n: int = 32) -> str:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes().hex()


def _near(h: str, bits: int) -> str:
    v = bytearray(bytes.fromhex(h))
    for b in range(bits):
        v[b] ^= 0x01
    return v.hex()


def test_fast_and_checked_parsing_answer_alike(service: Service) -> None:
    rng = np.random.default_rng(40)
    c = service.client(service.admin)
    blocking = service.bank("batchblock")
    benign = service.bank("batchallow", allow_list=True, pdq_threshold=10)
    stored = [_hex(rng) for _ in range(6)]
    ids = [
        c.post(f"/c/bank/{blocking}/signal", json={"pdq": h, "note": f"n{i}"}).json()["id"]
        for i, h in enumerate(stored)
    ]
    c.post(f"/c/bank/{benign}/signal", json={"pdq": _near(stored[0], 2)})
    queries = [_near(stored[0], 1), _hex(rng), _near(stored[3], 5), stored[5], _hex(rng)]
    plain = c.post("/v1/match/batch", json={"hashes": queries}).json()
    # the same hashes in forms that need per-item normalisation: upper case, surrounding space
    odd = [queries[0].upper(), f" {queries[1]} ", queries[2], queries[3].upper(), queries[4]]
    checked = c.post("/v1/match/batch", json={"hashes": odd}).json()
    assert plain == checked
    assert list(plain) == ["signal_type", "count", "matched", "errors", "results"]
    assert (plain["count"], plain["matched"], plain["errors"]) == (5, 3, 0)
    first, miss, third, fourth, _ = plain["results"]
    assert first["status"] == "allow_listed"
    assert {m["bank"] for m in first["matches"]} == {blocking, benign}
    assert [m["suppressed_by"] is not None for m in first["matches"] if m["bank"] == blocking] == [True]
    assert miss == {"status": "no_match", "matches": []}
    assert third["status"] == "match" and third["matches"][0]["content_id"] == ids[3]
    assert third["matches"][0]["distance"] == 5 and third["matches"][0]["note"] == "n3"
    assert fourth["matches"][0]["distance"] == 0 and fourth["matches"][0]["content_id"] == ids[5]
    # one bad item sends the batch through per-item checks; the good items answer the same
    with_bad = c.post("/v1/match/batch", json={"hashes": [*queries[:2], "zz" * 32, *queries[2:]]}).json()
    assert with_bad["errors"] == 1 and with_bad["results"][2]["error"]["code"] == "invalid_signal"
    assert "hashes[2]" in with_bad["results"][2]["error"]["message"]
    assert with_bad["results"][:2] + with_bad["results"][3:] == plain["results"]


def test_batch_respects_key_scope_and_matches_exact_types(service: Service) -> None:
    rng = np.random.default_rng(41)
    c = service.client(service.admin)
    mine, other = service.bank("scopemine"), service.bank("scopeother")
    h, md5 = _hex(rng), _hex(rng, 16)
    c.post(f"/c/bank/{mine}/signal", json={"pdq": h})
    c.post(f"/c/bank/{other}/signal", json={"pdq": _near(h, 3), "md5": md5})
    scoped = service.client(service.key(Role.MATCHER, banks=[mine]))
    body = scoped.post("/v1/match/batch", json={"hashes": [h, _hex(rng)]}).json()
    assert {m["bank"] for m in body["results"][0]["matches"]} == {mine}
    assert body["matched"] == 1 and body["results"][1]["status"] == "no_match"
    everything = c.post("/v1/match/batch", json={"hashes": [h]}).json()
    assert {m["bank"] for m in everything["results"][0]["matches"]} >= {mine, other}
    exact = c.post(
        "/v1/match/batch", json={"signal_type": "md5", "hashes": [md5.upper(), "0" * 32, "short"]}
    ).json()
    assert (exact["signal_type"], exact["matched"], exact["errors"]) == ("md5", 1, 1)
    hit = exact["results"][0]["matches"][0]
    assert (hit["bank"], hit["signal_type"], hit["distance"]) == (other, "md5", 0)
    assert exact["results"][1] == {"status": "no_match", "matches": []}
    assert c.post("/v1/match/batch", json={"hashes": []}).json()["results"] == []
