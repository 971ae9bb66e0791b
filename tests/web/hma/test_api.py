"""Twins of HMA's ``tests/test_api.py``.

HMA's status tests also fake an unloaded and a stale index cache in-process; over HTTP the twins
check the live answers (503 while an index loads: ``tests/web/test_workers.py``).
HMA's role switch (``ROLE_HASHER = False``) maps to a key whose role may not hash or look up (a
``submitter`` key), and HMA's patched exchange types to ``TAKEBACK_EXCHANGE_APIS`` (docs/API.md).
"""

from __future__ import annotations

import httpx
import pytest

from takeback.auth import Role
from tests.web.conftest import Service

S1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
S2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"
#: HMA's test_lookup_without_role uploads this (a JPEG's first and last markers only)
TINY_JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def test_status_response(fresh: Service) -> None:
    r = fresh.client().get("/status")
    assert (r.status_code, r.content) == (200, b"I-AM-ALIVE")


def test_status_live_always_alive(fresh: Service) -> None:
    r = fresh.client().get("/status/live")
    assert (r.status_code, r.content) == (200, b"I-AM-ALIVE")


def test_openapi_documentation_available(client: httpx.Client) -> None:
    r = client.get("/openapi/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    payload = r.json()
    assert payload is not None
    assert payload.get("info", {}).get("title") == "Open Media Match API"


def test_lookup_success(client: httpx.Client, image_server: str) -> None:
    # (takeback needs no index build: the index follows the store)
    url = f"{image_server}/image1.jpg"
    r = client.get("/m/lookup", params={"url": url})
    assert r.status_code == 200, r.text
    jpeg = httpx.get(url).content
    r = client.post("/m/lookup", files={"photo": ("image1.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    # It's not really a video, but MD5 is simple that we can fake it (HMA's words)
    r = client.post("/m/lookup", files={"video": ("image1.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text


def test_lookup_without_role(fresh: Service, image_server: str) -> None:
    client = fresh.client(fresh.key(Role.SUBMITTER))  # HMA: ROLE_HASHER = False
    r = client.get("/m/lookup", params={"url": f"{image_server}/image1.jpg"})
    assert r.status_code == 403
    r = client.post("/m/lookup", files={"file": ("x.jpg", TINY_JPEG, "image/jpeg")})
    assert r.status_code == 403


@pytest.mark.service(exchange_apis="fb_threatexchange,sample")  # HMA patches storage.exchange_types
def test_exchange_api_set_auth(client: httpx.Client) -> None:
    r = client.get("/c/exchanges/apis")
    assert r.status_code == 200 and set(r.json()) == {"sample", "fb_threatexchange"}
    r = client.get("/c/exchanges/api/sample")
    assert r.status_code == 200
    assert r.json() == {"supports_authentification": False, "has_set_authentification": False}
    r = client.get("/c/exchanges/api/fb_threatexchange")
    assert r.status_code == 200
    assert r.json() == {"supports_authentification": True, "has_set_authentification": False}
    creds = {"api_token": "12345789|000000000000"}  # HMA's FBThreatExchangeCredentials, as a dict
    r = client.post("/c/exchanges/api/fb_threatexchange", json={"credential_json": creds})
    assert r.status_code == 200
    assert r.json() == {"supports_authentification": True, "has_set_authentification": True}
    r = client.get("/c/exchanges/api/fb_threatexchange")
    assert r.status_code == 200
    assert r.json() == {"supports_authentification": True, "has_set_authentification": True}
    r = client.post("/c/exchanges/api/fb_threatexchange", json={"credential_json": {}})  # unset
    assert r.status_code == 200
    assert r.json() == {"supports_authentification": True, "has_set_authentification": False}


@pytest.mark.service(exchange_apis="sample,fb_threatexchange")
def test_exchange_api_schema(client: httpx.Client) -> None:
    r = client.get("/c/exchanges/api/sample/schema")
    assert r.status_code == 200
    data = r.json()
    assert isinstance(data, dict) and "config_schema" in data and "fields" in data["config_schema"]
    assert data["credentials_schema"] is None
    r = client.get("/c/exchanges/api/fb_threatexchange/schema")
    assert r.status_code == 200
    data = r.json()
    assert isinstance(data, dict) and "config_schema" in data
    config_fields = {f["name"]: f for f in data["config_schema"]["fields"]}
    assert "privacy_group" in config_fields
    assert config_fields["privacy_group"]["type"] == "number"
    assert config_fields["privacy_group"]["required"] is True
    cred_schema = data["credentials_schema"]
    assert cred_schema is not None
    cred_fields = {f["name"]: f for f in cred_schema["fields"]}
    assert "api_token" in cred_fields and cred_fields["api_token"]["type"] == "string"


def test_compare_hashes(client: httpx.Client) -> None:
    r = client.post("/m/compare", json={"pdq": [S1, S2]})
    assert (r.status_code, r.json()) == (200, {"pdq": [True, {"distance": 9}]})
    for body in (
        ["banana"],
        {"pdq": "banana"},
        {"pdq": []},
        {"pdq": ["banana", "banana"]},
        {"pdq": [S1, S2, S1]},
    ):
        r = client.post("/m/compare", json=body)
        assert r.status_code == 400 and set(r.json()) == {"message"}, body


def test_exchange_delete(client: httpx.Client) -> None:
    r = client.delete("/c/exchange/TEST_EXCHANGE")
    assert r.status_code == 200  # deleting an exchange that does not exist: 200
    r = client.post("/c/exchanges", json={"api": "sample", "bank": "FOO_EXCHANGE", "api_json": {}})
    assert r.status_code == 201, r.text
    r = client.delete("/c/exchange/FOO_EXCHANGE")
    assert r.status_code == 200
    assert r.json()["message"] == "Exchange deleted"


def test_exchange_get_fetch_status(client: httpx.Client) -> None:
    assert client.get("/c/exchange/NONEXISTENT_EXCHANGE/status").status_code == 404
    r = client.post("/c/exchanges", json={"api": "sample", "bank": "BAR_EXCHANGE", "api_json": {}})
    assert r.status_code == 201, r.text
    r = client.get("/c/exchange/BAR_EXCHANGE/status")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data is not None
    for key in (
        "checkpoint_ts",
        "running_fetch_start_ts",
        "last_fetch_complete_ts",
        "last_fetch_succeeded",
        "up_to_date",
        "fetched_items",
    ):
        assert key in data
