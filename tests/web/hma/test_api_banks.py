"""Twins of HMA's ``tests/test_api_banks.py``: the same requests over HTTP, the same assertions.

Adds by URL go as uploads of the same bytes (takeback refuses loopback URLs: docs/API.md); the
tests that fetch from github.com need the network in HMA and use the local image here.
"""

from __future__ import annotations

import json
import time

import httpx

from tests.web.hma.conftest import add_photo, create_bank


def test_banks_empty_index(client: httpx.Client) -> None:
    r = client.get("/c/banks")
    assert r.status_code == 200 and r.json() == []


def test_banks_create(client: httpx.Client) -> None:
    assert client.post("/c/banks", json={"name": "01_TEST_BANK"}).status_code == 400
    r = client.post("/c/banks", json={"name": "my_test_bank"})
    assert r.status_code == 400 and r.json() == {"message": "Bank names must be UPPER_WITH_UNDERSCORE"}
    r = client.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert r.status_code == 201 and r.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    r = client.get("/c/banks")
    assert r.status_code == 200 and r.json() == [{"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}]


def test_banks_create_duplicate(client: httpx.Client) -> None:
    create_bank(client, "DUP")
    r = client.post("/c/banks", json={"name": "DUP"})
    assert (r.status_code, r.json()) == (403, {"message": "Bank already exists"})


def test_banks_update(client: httpx.Client) -> None:
    assert client.post("/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 201
    assert client.put("/c/bank/MY_TEST_BANK", json={"name": "1_invalid_name"}).status_code == 400
    r = client.put("/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert r.status_code == 200 and r.json()["name"] == "MY_TEST_BANK_RENAMED"
    r = client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0
    r = client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 1.0})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 1.0
    r = client.get("/c/banks")
    assert r.json() == [{"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 1.0}]
    assert client.put("/c/bank/NOPE", json={}).json() == {"message": "Bank not found"}


def test_banks_delete(client: httpx.Client) -> None:
    assert client.post("/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 201
    assert client.delete("/c/bank/MY_TEST_BANK").status_code == 200
    r = client.delete("/c/bank/MY_TEST_BANK")
    assert (r.status_code, r.json()) == (200, {"message": "Done"})


def test_bank_get_content(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_GET")
    r = add_photo(client, "TEST_BANK_GET", images["image1.jpg"])
    assert r.status_code == 200 and r.json()
    cid = r.json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_GET/content/{cid}")
    assert r.status_code == 200 and r.json()["id"] == cid


def test_bank_get_content_404(client: httpx.Client) -> None:
    r = client.get("/c/bank/TEST_BANK_GET/content/1")
    assert (r.status_code, r.json()) == (404, {"message": "bank 'TEST_BANK_GET' not found"})
    create_bank(client, "TEST_BANK_GET")
    r = client.get("/c/bank/TEST_BANK_GET/content/1")
    assert (r.status_code, r.json()) == (404, {"message": "content '1' not found"})


def test_banks_add_content(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "NEW_BANK")
    r = add_photo(client, "NEW_BANK", images["image1.jpg"])
    assert r.status_code == 200
    body = r.json()
    assert body == {"id": 1, "signals": {"pdq": body["signals"]["pdq"]}}
    assert len(body["signals"]["pdq"]) == 64


def test_bank_update_content(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_UPDATE")
    cid = add_photo(client, "TEST_BANK_UPDATE", images["image1.jpg"]).json()["id"]
    until = int(time.time()) + 365 * 24 * 3600
    r = client.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": until})
    assert r.status_code == 200 and r.json() and r.json()["disable_until_ts"] == until


def test_bank_update_content_400(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_UPDATE")
    cid = add_photo(client, "TEST_BANK_UPDATE", images["image1.jpg"]).json()["id"]
    r = client.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": 9999999999})
    assert r.status_code == 400
    assert r.json() == {"message": "disable_until_ts must be less than 5 years in the future"}


def test_banks_delete_content(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "NEW_BANK")
    assert add_photo(client, "NEW_BANK", images["image1.jpg"]).json()["id"] == 1
    r = client.delete("/c/bank/NEW_BANK/content/1")
    assert (r.status_code, r.json()) == (200, {"deleted": 1})
    assert client.delete("/c/bank/NEW_BANK/content/1").json() == {"deleted": 0}


def test_banks_add_metadata(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "NEW_BANK")
    bad = add_photo(client, "NEW_BANK", images["image1.jpg"], metadata=json.dumps({"invalid_metadata": 5}))
    assert bad.status_code == 400 and bad.json()["message"].startswith("Invalid metadata:")
    good = json.dumps({"content_id": "1197433091", "json": {"asdf": {}}})
    assert add_photo(client, "NEW_BANK", images["image1.jpg"], metadata=good).status_code == 200


def test_banks_add_hash_index(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "NEW_BANK")
    pdq1 = add_photo(client, "NEW_BANK", images["image1.jpg"]).json()["signals"]["pdq"]
    create_bank(client, "NEW_BANK_2")
    r = add_photo(client, "NEW_BANK", images["image2.jpg"])
    assert r.json()["id"] == 2
    pdq2 = r.json()["signals"]["pdq"]
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq1})
    assert (r.status_code, r.json()) == (200, {"matches": [1]})
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq2})
    assert (r.status_code, r.json()) == (200, {"matches": [2]})


def test_bank_get_content_with_signals(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_GET_SIGS")
    cid = add_photo(client, "TEST_BANK_GET_SIGS", images["image1.jpg"]).json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_GET_SIGS/content/{cid}")
    assert r.status_code == 200 and r.json()["id"] == cid and "signals" not in r.json()
    r = client.get(f"/c/bank/TEST_BANK_GET_SIGS/content/{cid}", params={"include_signals": "true"})
    assert r.status_code == 200 and r.json()["id"] == cid
    assert set(r.json()["signals"]) == {"pdq"}


def test_bank_get_content_returns_stored_metadata(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_METADATA")
    meta = {
        "content_id": "ext-id-123",
        "content_uri": "https://example.com/item/123",
        "json": {"source": "test", "nested": {"key": "value"}},
    }
    r = add_photo(client, "TEST_BANK_METADATA", images["image1.jpg"], metadata=json.dumps(meta))
    assert r.status_code == 200
    got = client.get(f"/c/bank/TEST_BANK_METADATA/content/{r.json()['id']}").json()["metadata"]
    assert got == {"collab": None, **meta}


def test_bank_get_content_include_metadata_false(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NO_METADATA")
    meta = json.dumps({"content_id": "id1", "content_uri": "https://example.com/1"})
    cid = add_photo(client, "TEST_BANK_NO_METADATA", images["image1.jpg"], metadata=meta).json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_NO_METADATA/content/{cid}", params={"include_metadata": "false"})
    assert r.status_code == 200 and "metadata" not in r.json()


def test_bank_add_content_with_note(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NOTE")
    cid = add_photo(client, "TEST_BANK_NOTE", images["image1.jpg"], note="Reported by user X").json()["id"]
    assert client.get(f"/c/bank/TEST_BANK_NOTE/content/{cid}").json()["note"] == "Reported by user X"


def test_bank_add_content_without_note_omitted(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NO_NOTE")
    cid = add_photo(client, "TEST_BANK_NO_NOTE", images["image1.jpg"]).json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_NO_NOTE/content/{cid}")
    assert r.status_code == 200 and "note" not in r.json()


def test_bank_update_content_note(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NOTE_UPDATE")
    cid = add_photo(client, "TEST_BANK_NOTE_UPDATE", images["image1.jpg"]).json()["id"]
    path = f"/c/bank/TEST_BANK_NOTE_UPDATE/content/{cid}"
    for note in ("Initial note", "Updated note"):
        r = client.put(path, json={"note": note})
        assert r.status_code == 200 and r.json()["note"] == note
        assert client.get(path).json()["note"] == note
    assert client.put(path, json={"note": ""}).status_code == 200
    assert "note" not in client.get(path).json()


def test_bank_add_note_too_long(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NOTE_LONG")
    r = add_photo(client, "TEST_BANK_NOTE_LONG", images["image1.jpg"], note="x" * 256)
    assert (r.status_code, r.json()) == (400, {"message": "note must be at most 255 characters"})
    assert add_photo(client, "TEST_BANK_NOTE_LONG", images["image1.jpg"], note="x" * 255).status_code == 200


def test_bank_add_hash_with_note(client: httpx.Client) -> None:
    create_bank(client, "TEST_BANK_HASH_NOTE")
    r = client.post(
        "/c/bank/TEST_BANK_HASH_NOTE/signal", json={"pdq": "0" * 64, "note": "Hash from campaign ABC"}
    )
    assert r.status_code == 200
    got = client.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{r.json()['id']}").json()
    assert got["note"] == "Hash from campaign ABC"


def test_bank_get_content_without_metadata_omitted(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "TEST_BANK_NO_META")
    cid = add_photo(client, "TEST_BANK_NO_META", images["image1.jpg"]).json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_NO_META/content/{cid}")
    assert r.status_code == 200 and "metadata" not in r.json()
