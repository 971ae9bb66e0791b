"""HMA behaviours its own API tests do not pin (read from HMA's views), and the two deliberate
differences, over HTTP on a fresh store: the coin flip (``enabled_ratio``, ``seed``,
``bypass_coinflip``), raw lookups of disabled entries, repeated adds, the configuration routes, and
that loopback URLs stay refused and keys required outside the twins' test-only stand-in."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.web.conftest import Service
from tests.web.hma.conftest import PDQ_EXAMPLES, add_url, create_bank

PDQ = PDQ_EXAMPLES[0]


def _seeds() -> tuple[str, str]:
    """A seed whose flip lets a 0.5 bank in and one that keeps it out (HMA draws
    ``random.Random(seed).random()`` and lets in banks whose ratio is at least the draw)."""
    low = next(s for s in map(str, range(100)) if random.Random(s).random() < 0.5)
    high = next(s for s in map(str, range(100)) if random.Random(s).random() > 0.5)
    return low, high


def test_enabled_ratio_is_a_coin_flip_per_lookup(client: httpx.Client, images: dict[str, bytes]) -> None:
    create_bank(client, "HALF")
    create_bank(client, "FULL")
    for b in ("HALF", "FULL"):
        assert client.post(f"/c/bank/{b}/signal", json={"pdq": PDQ}).status_code == 200
    r = client.put("/c/bank/HALF", json={"enabled_ratio": 0.5})
    assert (r.status_code, r.json()) == (200, {"matching_enabled_ratio": 0.5, "name": "HALF"})
    low, high = _seeds()
    q = {"signal_type": "pdq", "signal": PDQ}
    assert set(client.get("/m/lookup", params={**q, "seed": low}).json()) == {"HALF", "FULL"}
    assert set(client.get("/m/lookup", params={**q, "seed": high}).json()) == {"FULL"}
    # the same seed, the same answer, in every worker (a string seed is deterministic)
    assert all(set(client.get("/m/lookup", params={**q, "seed": high}).json()) == {"FULL"} for _ in range(5))
    # unseeded: about half the lookups
    hits = sum("HALF" in client.get("/m/lookup", params=q).json() for _ in range(60))
    assert 10 <= hits <= 50, hits
    # raw_lookup flips no coin (HMA's raw lookup reads no bank state)
    assert len(client.get("/m/raw_lookup", params=q).json()["matches"]) == 2
    # POST: the seed too; GET ignores bypass_coinflip, as HMA's GET lookup does
    assert set(client.get("/m/lookup", params={**q, "seed": high, "bypass_coinflip": "true"}).json()) == {
        "FULL"
    }
    client.put("/c/bank/HALF", json={"enabled_ratio": 0.0})
    assert client.get("/c/banks").json()[-1] == {"matching_enabled_ratio": 0.0, "name": "HALF"}


def test_bypass_coinflip_lets_every_bank_in_on_post_lookup(
    client: httpx.Client, images: dict[str, bytes]
) -> None:
    jpeg = images["image1.jpg"]
    create_bank(client, "OFF")
    r = client.post("/c/bank/OFF/content", files={"photo": ("a.jpg", jpeg)})
    assert r.status_code == 200
    assert client.put("/c/bank/OFF", json={"enabled": False}).status_code == 200
    photo = {"photo": ("a.jpg", jpeg, "image/jpeg")}
    assert client.post("/m/lookup", files=photo).json() == {"pdq": {}}
    assert client.post("/m/lookup", files=photo, params={"bypass_coinflip": "True"}).json() == {"pdq": {}}
    got = client.post("/m/lookup", files=photo, params={"bypass_coinflip": "true"}).json()
    assert list(got["pdq"]) == ["OFF"]  # HMA: "Always allow all banks ... if bypass_coinflip is True"
    # a disabled entry stays out even then
    cid = r.json()["id"]
    assert client.put(f"/c/bank/OFF/content/{cid}", json={"disable_until_ts": 0}).status_code == 200
    assert client.post("/m/lookup", files=photo, params={"bypass_coinflip": "true"}).json() == {"pdq": {}}


def test_raw_lookup_answers_disabled_entries_and_banks_but_not_deleted_ones(client: httpx.Client) -> None:
    create_bank(client, "RAW")
    cid = client.post("/c/bank/RAW/signal", json={"pdq": PDQ}).json()["id"]
    q = {"signal_type": "pdq", "signal": PDQ}
    assert client.put(f"/c/bank/RAW/content/{cid}", json={"disable_until_ts": 0}).status_code == 200
    assert client.get("/m/raw_lookup", params=q).json() == {"matches": [cid]}
    assert client.get("/m/lookup", params=q).json() == {}
    assert client.put("/c/bank/RAW", json={"enabled": False}).status_code == 200
    assert client.get("/m/raw_lookup", params={**q, "banks": "RAW"}).json() == {"matches": [cid]}
    assert client.delete(f"/c/bank/RAW/content/{cid}").json() == {"deleted": 1}
    assert client.get("/m/raw_lookup", params=q).json() == {"matches": []}  # at once (no rebuild)


def test_adding_content_twice_adds_a_second_entry(client: httpx.Client, image_server: str) -> None:
    create_bank(client, "TWICE")
    url = f"{image_server}/image1.jpg"
    first, second = add_url(client, "TWICE", url).json(), add_url(client, "TWICE", url).json()
    assert (first["id"], second["id"]) == (1, 2) and first["signals"] == second["signals"]
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": first["signals"]["pdq"]})
    assert sorted(r.json()["matches"]) == [1, 2]
    assert client.post("/c/bank/TWICE/signal", json={"pdq": PDQ}).json()["id"] == 3
    assert client.post("/c/bank/TWICE/signal", json={"pdq": PDQ}).json()["id"] == 4


def test_loopback_urls_stay_refused_without_the_test_stand_in(
    client: httpx.Client, _image_files: str
) -> None:
    """The service allow-lists 127.0.0.1 here; the address check refuses it all the same."""
    url = f"{_image_files}/image1.jpg"
    for r in (
        client.get("/m/lookup", params={"url": url}),
        client.get("/h/hash", params={"url": url}),
        client.post("/c/banks", json={"name": "X"}) and client.post("/c/bank/X/content", params={"url": url}),
    ):
        assert r.status_code == 403 and r.json()["code"] == "blocked_address", r.text


def test_a_key_is_required(fresh: Service) -> None:
    anon = fresh.client()
    for path in ("/c/banks", "/c/signal_type", "/c/exchanges", "/site-map", "/m/index/status"):
        assert anon.get(path).status_code == 401, path
    assert anon.get("/openapi/openapi.json").status_code == 200  # describes the API, holds no data


def test_signal_and_content_types(client: httpx.Client) -> None:
    r = client.get("/c/signal_type")
    assert r.status_code == 200
    assert r.json() == [{"name": "pdq", "enabled_ratio": 1.0}, {"name": "video_md5", "enabled_ratio": 1.0}]
    r = client.put("/c/signal_type/pdq", json={"enabled_ratio": 0.25})
    assert r.status_code == 204 and r.content == b""
    assert client.get("/c/signal_type").json()[0] == {"name": "pdq", "enabled_ratio": 0.25}
    assert client.put("/c/signal_type/pdq", json={}).json() == {"message": "enabled_ratio is required"}
    assert client.put("/c/signal_type/pdq", json={"enabled_ratio": "x"}).status_code == 400
    assert client.put("/c/signal_type/pdq", json={"enabled_ratio": 2}).status_code == 400
    assert client.put("/c/signal_type/tmk", json={"enabled_ratio": 1}).status_code == 400
    r = client.get("/c/content_type")
    assert r.json() == [{"name": "photo", "enabled": True}, {"name": "video", "enabled": True}]
    assert client.post("/c/bank/SIGS/signal", json={"pdq": PDQ}).status_code == 404
    create_bank(client, "SIGS")
    client.post("/c/bank/SIGS/signal", json={"pdq": PDQ})
    r = client.get("/c/signal_type/index")
    assert r.status_code == 200 and set(r.json()) == {"pdq", "video_md5"}
    pdq = r.json()["pdq"]
    assert (pdq["db_size"], pdq["index_size"], pdq["index_out_of_date"]) == (1, 1, False)
    assert set(pdq) == {"db_size", "index_size", "index_out_of_date", "newest_db_item", "index_built_to"}
    assert list(client.get("/c/signal_type/index", params={"signal_type": "video_md5"}).json()) == [
        "video_md5"
    ]
    r = client.get("/c/signal_type/index", params={"signal_type": "tmk"})
    assert (r.status_code, r.json()) == (400, {"message": "No such signal type 'tmk'"})


def test_site_map(client: httpx.Client) -> None:
    r = client.get("/site-map")
    assert r.status_code == 200
    paths = r.json()
    assert paths == sorted(paths)
    assert {"/c/banks", "/c/bank/<bank_name>", "/m/raw_lookup", "/site-map", "/status"} <= set(paths)


def test_exchanges_list_show_update(client: httpx.Client) -> None:
    assert client.get("/c/exchanges").json() == []
    assert client.get("/c/exchanges/apis").json() == ["sample"]  # HMA's default install
    r = client.get("/c/exchanges/api/nope")
    assert (r.status_code, r.json()) == (400, {"message": "no such Exchange API 'nope'"})
    assert client.get("/c/exchanges/api/nope/schema").status_code == 404
    for body, message in (
        ({"api": "sample"}, "bank is required"),
        ({"bank": "lower", "api": "sample"}, "Field `bank` must match /^[A-Z0-9_]+$/"),
        ({"bank": "EX", "api": "sample", "api_json": []}, "Field `api_json` must be object"),
        ({"bank": "EX"}, "Field `api_type` is required"),
        ({"bank": "EX", "api": "fb_threatexchange"}, "No such exchange type 'fb_threatexchange'"),
    ):
        r = client.post("/c/exchanges", json=body)
        assert (r.status_code, r.json()) == (400, {"message": message}), body
    assert client.post("/c/exchanges", json={"bank": "EX", "api": "sample"}).status_code == 201
    assert client.get("/c/exchanges").json() == ["EX"]
    assert client.get("/c/exchange/EX").json() == {"name": "EX", "api": "sample", "enabled": True}
    r = client.put("/c/exchange/EX", json={"enabled": False})
    assert (r.status_code, r.json()) == (200, {"name": "EX", "api": "sample", "enabled": False})
    assert client.get("/c/bank/EX").status_code == 200  # its bank, as in HMA
    assert client.post("/c/exchanges", json={"bank": "EX", "api": "sample"}).status_code == 400
    assert client.get("/c/exchange/EX/status").json() == {
        "checkpoint_ts": None,
        "running_fetch_start_ts": None,
        "last_fetch_complete_ts": None,
        "last_fetch_succeeded": None,
        "up_to_date": False,
        "fetched_items": 0,
    }
    assert client.delete("/c/exchange/EX").json() == {"message": "Exchange deleted"}
    assert client.get("/c/exchange/EX").json() == {"message": "Exchange 'EX' not found"}
    assert client.get("/c/bank/EX").status_code == 404


@pytest.mark.service(exchange_apis="fb_threatexchange")
def test_exchange_settings_and_credentials_are_checked(client: httpx.Client) -> None:
    r = client.post("/c/exchanges", json={"bank": "TX", "api": "fb_threatexchange", "api_json": {}})
    assert r.status_code == 400 and r.json()["message"].startswith("Failed to parse `api_json`")
    body = {"bank": "TX", "api": "fb_threatexchange", "api_json": {"privacy_group": 1234}}
    assert client.post("/c/exchanges", json=body).status_code == 201
    assert client.get("/c/exchange/TX").json() == {
        "name": "TX",
        "api": "fb_threatexchange",
        "enabled": True,
        "privacy_group": 1234,
    }
    r = client.post("/c/exchanges/api/fb_threatexchange", json={"credential_json": {"token": "x"}})
    assert r.status_code == 400
    assert client.post("/c/exchanges/api/fb_threatexchange", json=[]).status_code == 400


def test_banks_create_duplicate(client: httpx.Client) -> None:
    create_bank(client, "DUP")
    r = client.post("/c/banks", json={"name": "DUP"})
    assert (r.status_code, r.json()) == (403, {"message": "Bank already exists"})
