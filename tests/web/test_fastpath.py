"""The short way in for hot GET lookups answers exactly as the FastAPI route does.

An unknown extra query parameter sends a request down FastAPI's route (FastAPI ignores it), so the
same request with and without ``_=1`` must get the same status and body.
"""

from __future__ import annotations

from takeback.auth import Role
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_fast_path_and_route_agree(service: Service) -> None:
    bank = service.bank("fast")
    admin = service.client(service.admin)
    cid = admin.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ, "md5": "ab" * 16, "note": "n"}).json()["id"]
    keys = {
        "none": None,
        "bad": "tbk_aaaaaaaaaaaa_" + "A" * 43,
        "matcher": service.key(Role.MATCHER),
        "submitter": service.key(Role.SUBMITTER),
    }
    cases = [
        ("/m/raw_lookup", {"signal_type": "pdq", "signal": PDQ}),
        ("/m/raw_lookup", {"signal_type": "pdq", "signal": PDQ, "include_distance": "true"}),
        ("/m/raw_lookup", {"signal_type": "pdq", "signal": PDQ, "include_distance": "0", "banks": bank}),
        ("/m/raw_lookup", {"signal_type": "PDQ", "signal": PDQ.upper()}),
        ("/m/raw_lookup", {"signal_type": "pdq", "signal": "nothex"}),
        ("/m/raw_lookup", {"signal_type": "tmk", "signal": PDQ}),
        ("/m/raw_lookup", {"signal_type": "pdq", "signal": PDQ, "banks": "no-such-bank"}),
        ("/m/raw_lookup", {"signal_type": "video_md5", "signal": "ab" * 16}),
        ("/m/lookup", {"signal_type": "pdq", "signal": PDQ}),
        ("/m/lookup", {"signal_type": "md5", "signal": "ab" * 16, "include_metadata": "true"}),
        ("/m/lookup", {"signal_type": "pdq", "signal": PDQ, "seed": "x", "bypass_coinflip": "false"}),
    ]
    for who, token in keys.items():
        client = service.client(token)
        for path, params in cases:
            fast = client.get(path, params=params)
            slow = client.get(path, params={**params, "_": "1"})
            assert (fast.status_code, fast.content) == (slow.status_code, slow.content), (who, path, params)
            assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")
    r = service.client(keys["matcher"]).get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ})
    assert r.json() == {"matches": [cid]}


def test_both_ways_read_the_key_from_the_same_headers(service: Service) -> None:
    """One reading of Authorization / X-API-Key (``security.api_token``) serves both ways in."""
    matcher = service.key(Role.MATCHER)
    params = {"signal_type": "pdq", "signal": PDQ}
    header_sets: list[list[tuple[str, str]]] = [
        [("X-API-Key", matcher)],
        [("Authorization", f"Bearer {matcher}")],
        [("Authorization", f"bearer  {matcher}")],
        [("Authorization", f"Basic {matcher}"), ("X-API-Key", matcher)],  # not Bearer: X-API-Key
        [("Authorization", f"Basic {matcher}")],
        [("Authorization", "Bearer"), ("X-API-Key", matcher)],
        [("Authorization", f"Bearer {matcher}"), ("X-API-Key", "tbk_aaaaaaaaaaaa_" + "A" * 43)],
        [("X-API-Key", "tbk_aaaaaaaaaaaa_" + "A" * 43), ("Authorization", f"Bearer {matcher}")],
        [("X-API-Key", "")],
    ]
    client = service.client()
    for headers in header_sets:
        fast = client.get("/m/raw_lookup", params=params, headers=headers)
        slow = client.get("/m/raw_lookup", params={**params, "_": "1"}, headers=headers)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content), headers
    ok = client.get("/m/raw_lookup", params=params, headers=[("X-API-Key", matcher)])
    assert ok.status_code == 200, ok.text
