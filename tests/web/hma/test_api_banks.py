"""Twins of HMA's ``tests/test_api_banks.py``: the same requests over HTTP, the same assertions.

Adds by URL fetch from HMA's ``image_server`` (a local HTTP server; see conftest.py). The three
tests that fetch an image from github.com in HMA (they need the network there) fetch image1.jpg from
the local server here.
"""

from __future__ import annotations

import time

import httpx

from tests.web.hma.conftest import add_hash_to_bank, add_url, create_bank


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


def test_banks_update(client: httpx.Client) -> None:
    assert client.post("/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 201
    assert client.put("/c/bank/MY_TEST_BANK", json={"name": "1_invalid_name"}).status_code == 400
    r = client.put("/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert r.status_code == 200 and r.json()["name"] == "MY_TEST_BANK_RENAMED"
    r = client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0
    r = client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 0.5})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0.5
    r = client.get("/c/banks")
    assert r.status_code == 200
    assert r.json() == [{"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5}]
    assert client.put("/c/bank/NOPE", json={}).json() == {"message": "Bank not found"}


def test_banks_delete(client: httpx.Client) -> None:
    assert client.post("/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 201
    assert client.delete("/c/bank/MY_TEST_BANK").status_code == 200
    r = client.delete("/c/bank/MY_TEST_BANK")
    assert (r.status_code, r.json()) == (200, {"message": "Done"})


def test_bank_get_content(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_GET")
    r = add_url(client, "TEST_BANK_GET", f"{image_server}/image1.jpg")
    assert r.status_code == 200 and r.json(), r.text
    cid = r.json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_GET/content/{cid}")
    assert r.status_code == 200 and r.json()["id"] == cid


def test_bank_get_content_404(client: httpx.Client) -> None:
    r = client.get("/c/bank/TEST_BANK_GET/content/1")
    assert (r.status_code, r.json()) == (404, {"message": "bank 'TEST_BANK_GET' not found"})
    create_bank(client, "TEST_BANK_GET")
    r = client.get("/c/bank/TEST_BANK_GET/content/1")
    assert (r.status_code, r.json()) == (404, {"message": "content '1' not found"})


def test_banks_add_content(client: httpx.Client, image_server: str, image_url_to_pdq: dict[str, str]) -> None:
    create_bank(client, "NEW_BANK")
    url = f"{image_server}/image1.jpg"
    r = add_url(client, "NEW_BANK", url)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": 1, "signals": {"pdq": image_url_to_pdq[url]}}


def test_bank_update_content(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_UPDATE")
    r = add_url(client, "TEST_BANK_UPDATE", f"{image_server}/image1.jpg")
    assert r.status_code == 200 and r.json(), r.text
    cid = r.json()["id"]
    until = int(time.time()) + 365 * 24 * 3600
    r = client.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": until})
    assert r.status_code == 200 and r.json() and r.json()["disable_until_ts"] == until


def test_bank_update_content_400(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_UPDATE")
    r = add_url(client, "TEST_BANK_UPDATE", f"{image_server}/image1.jpg")
    assert r.status_code == 200 and r.json(), r.text
    cid = r.json()["id"]
    r = client.put(f"/c/bank/TEST_BANK_UPDATE/content/{cid}", json={"disable_until_ts": 9999999999})
    assert r.status_code == 400
    assert r.json() == {"message": "disable_until_ts must be less than 5 years in the future"}


def test_banks_delete_content(
    client: httpx.Client, image_server: str, image_url_to_pdq: dict[str, str]
) -> None:
    create_bank(client, "NEW_BANK")
    add_hash_to_bank(client, "NEW_BANK", f"{image_server}/image1.jpg", image_url_to_pdq, 1)
    r = client.delete("/c/bank/NEW_BANK/content/1")
    assert (r.status_code, r.json()) == (200, {"deleted": 1})
    assert client.delete("/c/bank/NEW_BANK/content/1").json() == {"deleted": 0}


def test_banks_add_metadata(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "NEW_BANK")
    url = f"{image_server}/image1.jpg"
    bad = add_url(client, "NEW_BANK", url, metadata={"invalid_metadata": 5})
    assert bad.status_code == 400 and set(bad.json()) == {"message"}, bad.text
    good = add_url(client, "NEW_BANK", url, metadata={"content_id": "1197433091", "json": {"asdf": {}}})
    assert good.status_code == 200, good.text


def test_banks_add_hash_index(
    client: httpx.Client, image_server: str, image_url_to_pdq: dict[str, str]
) -> None:
    url1, url2 = f"{image_server}/image1.jpg", f"{image_server}/image2.jpg"
    create_bank(client, "NEW_BANK")
    add_hash_to_bank(client, "NEW_BANK", url1, image_url_to_pdq, 1)
    create_bank(client, "NEW_BANK_2")
    add_hash_to_bank(client, "NEW_BANK", url2, image_url_to_pdq, 2)
    # (no index build step: takeback's index follows every write)
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": image_url_to_pdq[url1]})
    assert (r.status_code, r.json()) == (200, {"matches": [1]})
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": image_url_to_pdq[url2]})
    assert (r.status_code, r.json()) == (200, {"matches": [2]})


def test_bank_get_content_with_signals(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_GET_SIGS")
    r = add_url(client, "TEST_BANK_GET_SIGS", f"{image_server}/image1.jpg")
    assert r.status_code == 200 and r.json(), r.text
    cid = r.json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_GET_SIGS/content/{cid}")
    assert r.status_code == 200 and r.json()["id"] == cid and "signals" not in r.json()
    r = client.get(f"/c/bank/TEST_BANK_GET_SIGS/content/{cid}", params={"include_signals": "true"})
    assert r.status_code == 200 and r.json()["id"] == cid
    assert isinstance(r.json()["signals"], dict) and len(r.json()["signals"]) > 0


def test_bank_get_content_returns_stored_metadata(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_METADATA")
    meta = {
        "content_id": "ext-id-123",
        "content_uri": "https://example.com/item/123",
        "json": {"source": "test", "nested": {"key": "value"}},
    }
    r = add_url(client, "TEST_BANK_METADATA", f"{image_server}/image1.jpg", metadata=meta)
    assert r.status_code == 200, r.text
    got = client.get(f"/c/bank/TEST_BANK_METADATA/content/{r.json()['id']}")
    assert got.status_code == 200 and "metadata" in got.json()
    m = got.json()["metadata"]
    assert (m["content_id"], m["content_uri"], m["json"]) == (
        meta["content_id"],
        meta["content_uri"],
        meta["json"],
    )


def test_bank_get_content_include_metadata_false(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NO_METADATA")
    meta = {"content_id": "id1", "content_uri": "https://example.com/1"}
    r = add_url(client, "TEST_BANK_NO_METADATA", f"{image_server}/image1.jpg", metadata=meta)
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    r = client.get(f"/c/bank/TEST_BANK_NO_METADATA/content/{cid}", params={"include_metadata": "false"})
    assert r.status_code == 200 and "metadata" not in r.json()


def test_bank_add_content_with_note(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NOTE")
    r = add_url(client, "TEST_BANK_NOTE", f"{image_server}/image1.jpg", note="Reported by user X")
    assert r.status_code == 200, r.text
    got = client.get(f"/c/bank/TEST_BANK_NOTE/content/{r.json()['id']}")
    assert got.status_code == 200 and got.json()["note"] == "Reported by user X"


def test_bank_add_content_without_note_omitted(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NO_NOTE")
    r = add_url(client, "TEST_BANK_NO_NOTE", f"{image_server}/image1.jpg")
    assert r.status_code == 200, r.text
    got = client.get(f"/c/bank/TEST_BANK_NO_NOTE/content/{r.json()['id']}")
    assert got.status_code == 200 and "note" not in got.json()


def test_bank_update_content_note(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NOTE_UPDATE")
    r = add_url(client, "TEST_BANK_NOTE_UPDATE", f"{image_server}/image1.jpg")
    assert r.status_code == 200, r.text
    path = f"/c/bank/TEST_BANK_NOTE_UPDATE/content/{r.json()['id']}"
    for note in ("Initial note", "Updated note"):
        assert client.put(path, json={"note": note}).status_code == 200
        assert client.get(path).json()["note"] == note
    assert client.put(path, json={"note": ""}).status_code == 200
    assert "note" not in client.get(path).json()


def test_bank_add_note_too_long(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NOTE_LONG")
    r = add_url(client, "TEST_BANK_NOTE_LONG", f"{image_server}/image1.jpg", note="x" * 256)
    assert (r.status_code, r.json()) == (400, {"message": "note must be at most 255 characters"})


def test_bank_add_hash_with_note(client: httpx.Client) -> None:
    create_bank(client, "TEST_BANK_HASH_NOTE")
    r = client.post(
        "/c/bank/TEST_BANK_HASH_NOTE/signal", json={"pdq": "0" * 64, "note": "Hash from campaign ABC"}
    )
    assert r.status_code == 200, r.text
    got = client.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{r.json()['id']}")
    assert got.status_code == 200 and got.json()["note"] == "Hash from campaign ABC"


def test_bank_get_content_without_metadata_omitted(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TEST_BANK_NO_META")
    r = add_url(client, "TEST_BANK_NO_META", f"{image_server}/image1.jpg")
    assert r.status_code == 200, r.text
    got = client.get(f"/c/bank/TEST_BANK_NO_META/content/{r.json()['id']}")
    assert got.status_code == 200 and "metadata" not in got.json()
