"""Twin of HMA's ``tests/test_e2e_workflow.py`` (takeback indexes on its own: no build step)."""

from __future__ import annotations

import httpx

from tests.web.hma.conftest import PDQ_EXAMPLES, create_bank


def test_add_hashes_and_find_match(client: httpx.Client) -> None:
    create_bank(client, "TEST_BANK")
    for i, h in enumerate(PDQ_EXAMPLES, start=1):
        r = client.post("/c/bank/TEST_BANK/signal", json={"pdq": h})
        assert r.status_code == 200 and r.json() == {"id": i, "signals": {"pdq": h}}
    r = client.get("/m/index/status", params={"signal_type": "pdq"})
    assert r.status_code == 200 and r.json()["pdq"]["present"] is True
    assert r.json()["pdq"]["size"] == 16
    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": PDQ_EXAMPLES[-1]})
    assert r.status_code == 200
    assert r.json() == {"TEST_BANK": [{"bank_content_id": 16, "distance": "0"}]}
    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": "5" * 64})
    assert (r.status_code, r.json()) == (200, {})
