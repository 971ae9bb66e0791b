"""An allow-list applies to every key, but a bank-scoped key is never told which bank's entry
suppressed its match: a bank's name (and its entry ids) can identify a case (issue 12, bank names)."""

from __future__ import annotations

from takeback.auth import Role
from tests.web.conftest import Service
from tests.web.test_matching import flip_bits


def test_a_scoped_key_learns_that_an_allow_list_applied_not_whose(service: Service) -> None:
    admin = service.client(service.admin)
    block = service.bank("scopedblock")
    secret = service.bank("secretallow", allow_list=True)
    pdq = "5a" * 32
    admin.post(f"/c/bank/{block}/signal", json={"pdq": pdq})
    secret_id = admin.post(f"/c/bank/{secret}/signal", json={"pdq": flip_bits(pdq, 2)}).json()["id"]

    scoped = service.client(service.key(Role.MATCHER, banks=[block]))
    body = scoped.post("/v1/match", json={"pdq": pdq}).json()
    assert body["status"] == "allow_listed"  # the allow-list still applies to this key
    assert [m["bank"] for m in body["matches"]] == [block]
    (m,) = body["matches"]
    assert m["suppressed_by"]["bank"] is None and m["suppressed_by"]["content_id"] is None
    assert m["suppressed_by"]["distance"] == 2
    assert secret not in str(body) and "in a bank this key cannot see" in m["explanation"]
    batch = scoped.post("/v1/match/batch", json={"hashes": [pdq]}).text
    assert secret not in batch

    # a key that may use the allow-list's bank is told which entry it was
    both = service.client(service.key(Role.MATCHER, banks=[block, secret]))
    (m,) = [x for x in both.post("/v1/match", json={"pdq": pdq}).json()["matches"] if x["bank"] == block]
    assert (m["suppressed_by"]["bank"], m["suppressed_by"]["content_id"]) == (secret, secret_id)
