"""Twins of HMA's ``tests/test_match_api.py``. HMA's ``client_with_sample_data`` fetches its
``sample`` exchange (16 PDQ, then 2 MD5 examples); takeback has no exchanges yet, so the same
hashes go into bank ``SAMPLE`` through ``/c/bank/SAMPLE/signal`` in the same order (ids 1-18)."""

from __future__ import annotations

import httpx
import pytest

from tests.web.hma.conftest import MD5_EXAMPLES, PDQ_EXAMPLES, create_bank

EXAMPLES = {"pdq": PDQ_EXAMPLES, "video_md5": MD5_EXAMPLES}


@pytest.fixture
def client_with_sample_data(client: httpx.Client) -> httpx.Client:
    create_bank(client, "SAMPLE")
    for t in ("pdq", "video_md5"):
        for h in EXAMPLES[t]:
            assert client.post("/c/bank/SAMPLE/signal", json={t: h}).status_code == 200
    assert client.get("/status").status_code == 200
    return client


@pytest.fixture
def client_with_multi_bank_data(client: httpx.Client) -> httpx.Client:
    for b in ("BANK_A", "BANK_B", "BANK_C"):
        create_bank(client, b)
    for b in ("BANK_A", "BANK_B", "BANK_C"):
        assert client.post(f"/c/bank/{b}/signal", json={"pdq": PDQ_EXAMPLES[0]}).status_code == 200
    assert client.get("/status").status_code == 200
    return client


def test_raw_lookups(client_with_sample_data: httpx.Client) -> None:
    c = client_with_sample_data
    for t, examples in EXAMPLES.items():
        q = {"signal": examples[0], "signal_type": t}
        r = c.get("/m/raw_lookup", params=q)
        assert r.status_code == 200 and len(r.json()["matches"]) >= 1
        n = len(r.json()["matches"])
        r = c.get("/m/raw_lookup", params={**q, "include_distance": "True"})
        assert r.status_code == 200 and len(r.json()["matches"]) == n
        assert all({"bank_content_id", "distance"} <= set(m) for m in r.json()["matches"])
    r = c.get("/m/raw_lookup", params={"signal": MD5_EXAMPLES[0], "signal_type": "video_md5"})
    assert r.json() == {"matches": [17]}
    r = c.get(
        "/m/raw_lookup",
        params={"signal": MD5_EXAMPLES[0], "signal_type": "video_md5", "include_distance": "True"},
    )
    assert r.json() == {"matches": [{"bank_content_id": 17, "distance": "-"}]}  # HMA's for exact types


def test_lookups(client_with_sample_data: httpx.Client) -> None:
    c = client_with_sample_data
    for t, examples in EXAMPLES.items():
        r = c.get("/m/lookup", params={"signal": examples[0], "signal_type": t})
        assert r.status_code == 200 and list(r.json()) == ["SAMPLE"] and r.json()["SAMPLE"]
        assert all({"bank_content_id", "distance"} <= set(m) for m in r.json()["SAMPLE"])


def test_raw_lookup_with_bank_filter(client_with_multi_bank_data: httpx.Client) -> None:
    c = client_with_multi_bank_data
    q = {"signal": PDQ_EXAMPLES[0], "signal_type": "pdq"}
    for banks, n in ((None, 3), ("BANK_A", 1), ("BANK_A,BANK_B", 2), ("NON_EXISTENT_BANK", 0)):
        r = c.get("/m/raw_lookup", params={**q, **({"banks": banks} if banks else {})})
        assert r.status_code == 200 and len(r.json()["matches"]) == n, (banks, r.text)


def test_raw_lookup_with_distance_and_bank_filter(client_with_multi_bank_data: httpx.Client) -> None:
    q = {
        "signal": PDQ_EXAMPLES[0],
        "signal_type": "pdq",
        "include_distance": "True",
        "banks": "BANK_A,BANK_B",
    }
    r = client_with_multi_bank_data.get("/m/raw_lookup", params=q)
    assert r.status_code == 200 and len(r.json()["matches"]) == 2
    assert all({"bank_content_id", "distance"} <= set(m) for m in r.json()["matches"])


def test_lookup_with_bank_filter(client_with_multi_bank_data: httpx.Client) -> None:
    c = client_with_multi_bank_data
    q = {"signal": PDQ_EXAMPLES[0], "signal_type": "pdq"}
    assert set(c.get("/m/lookup", params=q).json()) == {"BANK_A", "BANK_B", "BANK_C"}
    only_a = c.get("/m/lookup", params={**q, "banks": "BANK_A"}).json()
    assert list(only_a) == ["BANK_A"] and only_a["BANK_A"]
    assert set(c.get("/m/lookup", params={**q, "banks": "BANK_A,BANK_C"}).json()) == {"BANK_A", "BANK_C"}
    r = c.get("/m/lookup", params={**q, "banks": "NON_EXISTENT_BANK"})
    assert (r.status_code, r.json()) == (200, {})
