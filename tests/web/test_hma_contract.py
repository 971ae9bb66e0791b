"""HMA contract: what an HMA (OpenMediaMatch) client sends and reads, checked over real HTTP.

Written from HMA's documented API (``hasher-matcher-actioner/src/OpenMediaMatch/blueprints`` and
``schemas``): paths, parameters, status codes and JSON fields. The client below is deliberately
dumb, as an HMA integration is: it only adds the API key header. Where takeback differs on purpose
(documented in docs/API.md) the test says so and asserts takeback's documented behaviour.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import Service

# The PDQ hashes HMA's own tests expect for these two ThreatExchange sample images.
AAA_ORIG_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
C_PNG_PDQ = "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064"


class HmaClient:
    """An HMA integration's HTTP calls, unchanged except for the API key."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def create_bank(self, name: str) -> httpx.Response:
        return self.http.post("/c/banks", json={"name": name})

    def add_photo(self, bank: str, path: Path, metadata: dict[str, Any] | None = None) -> httpx.Response:
        data = {"metadata": __import__("json").dumps(metadata)} if metadata is not None else None
        return self.http.post(
            f"/c/bank/{bank}/content", files={"photo": (path.name, path.read_bytes())}, data=data
        )

    def raw_lookup(self, pdq: str, **params: Any) -> httpx.Response:
        return self.http.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq, **params})


@pytest.fixture
def hma(service: Service) -> HmaClient:
    return HmaClient(service.client(service.admin))


def _name() -> str:
    return f"HMA_BANK_{uuid.uuid4().hex[:8].upper()}"


def test_status_is_plain_text(service: Service) -> None:
    r = service.client().get("/status")
    assert (r.status_code, r.text) == (200, "I-AM-ALIVE")


def test_bank_lifecycle(hma: HmaClient) -> None:
    name = _name()
    r = hma.create_bank(name)
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == name and created["matching_enabled_ratio"] == 1.0
    listed = hma.http.get("/c/banks")
    assert listed.status_code == 200 and created in listed.json()
    r = hma.http.get(f"/c/bank/{name}")
    assert r.status_code == 200 and r.json()["name"] == name

    renamed = name + "_RENAMED"
    r = hma.http.put(f"/c/bank/{name}", json={"name": renamed})
    assert r.status_code == 200 and r.json()["name"] == renamed
    r = hma.http.put(f"/c/bank/{renamed}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0
    r = hma.http.put(f"/c/bank/{renamed}", json={"enabled_ratio": 1.0})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 1.0
    r = hma.http.put(f"/c/bank/{renamed}", json={"enabled_ratio": 0.5})  # a coin flip per lookup
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0.5

    r = hma.http.delete(f"/c/bank/{renamed}")
    assert r.status_code == 200 and "message" in r.json()
    # as HMA: deleting a bank that does not exist succeeds
    assert hma.http.delete(f"/c/bank/{renamed}").json() == {"message": "Done"}
    assert hma.http.get(f"/c/bank/{renamed}").status_code == 404


def test_duplicate_bank(hma: HmaClient) -> None:
    name = _name()
    assert hma.create_bank(name).status_code == 201
    r = hma.create_bank(name)
    assert (r.status_code, r.json()) == (403, {"message": "Bank already exists"})


def test_add_content_and_match_it(hma: HmaClient, pdq_data: Path) -> None:
    name, other = _name(), _name()
    hma.create_bank(name)
    hma.create_bank(other)
    r = hma.add_photo(name, pdq_data / "bridge-mods" / "aaa-orig.jpg")
    assert r.status_code == 200, r.text  # as HMA: 200 for a created entry
    added = r.json()
    assert isinstance(added["id"], int)
    assert added["signals"]["pdq"] == AAA_ORIG_PDQ
    content_id = added["id"]
    c_id = hma.add_photo(other, pdq_data / "misc-images" / "c.png").json()["id"]

    assert hma.raw_lookup(AAA_ORIG_PDQ).json() == {"matches": [content_id]}
    assert hma.raw_lookup(C_PNG_PDQ).json() == {"matches": [c_id]}
    with_distance = hma.raw_lookup(AAA_ORIG_PDQ, include_distance="true").json()
    assert with_distance == {"matches": [{"bank_content_id": content_id, "distance": "0"}]}
    assert hma.raw_lookup(AAA_ORIG_PDQ, banks=other).json() == {"matches": []}
    assert hma.raw_lookup(AAA_ORIG_PDQ, banks=f"{other},{name}").json() == {"matches": [content_id]}

    r = hma.http.get("/m/lookup", params={"signal_type": "pdq", "signal": AAA_ORIG_PDQ})
    assert r.status_code == 200
    assert r.json() == {name: [{"bank_content_id": content_id, "distance": "0"}]}

    blurred = (pdq_data / "bridge-mods" / "blur-a-little.jpg").read_bytes()
    r = hma.http.post("/m/lookup", files={"photo": ("x.jpg", blurred)})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"pdq"}
    (hit,) = body["pdq"][name]
    assert hit["bank_content_id"] == content_id and 0 <= int(hit["distance"]) <= 31
    assert set(body) == {"pdq"}  # as HMA: a photo is looked up by its PDQ only

    r = hma.http.post("/h/hash", files={"photo": ("x.jpg", blurred)})
    assert r.status_code == 200 and set(r.json()) >= {"pdq"}

    status = hma.http.get("/m/index/status")
    assert status.status_code == 200
    assert {"built_to", "present", "size"} <= set(status.json()["pdq"])
    assert status.json()["pdq"]["present"] is True and status.json()["pdq"]["size"] >= 2
    only = hma.http.get("/m/index/status", params={"signal_type": "pdq"}).json()
    assert list(only) == ["pdq"]


def test_content_get_update_delete(hma: HmaClient, pdq_data: Path) -> None:
    name = _name()
    hma.create_bank(name)
    content_id = hma.add_photo(name, pdq_data / "bridge-mods" / "aaa-orig.jpg").json()["id"]

    r = hma.http.get(f"/c/bank/{name}/content/{content_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == content_id and body["disable_until_ts"] == 1
    assert set(body) == {"bank", "disable_until_ts", "id", "original_media_uri"}  # as HMA
    assert body["bank"] == {"name": name, "matching_enabled_ratio": 1.0}
    with_signals = hma.http.get(f"/c/bank/{name}/content/{content_id}", params={"include_signals": "true"})
    assert with_signals.json()["signals"]["pdq"] == AAA_ORIG_PDQ

    until = int((datetime.now() + timedelta(days=365)).timestamp())
    r = hma.http.put(f"/c/bank/{name}/content/{content_id}", json={"disable_until_ts": until})
    assert r.status_code == 200 and r.json()["disable_until_ts"] == until
    # disabled: HMA's raw lookup does not check enabled state (it answers from the index); lookup does
    assert hma.raw_lookup(AAA_ORIG_PDQ, banks=name).json() == {"matches": [content_id]}
    lookup = hma.http.get("/m/lookup", params={"signal_type": "pdq", "signal": AAA_ORIG_PDQ, "banks": name})
    assert (lookup.status_code, lookup.json()) == (200, {})
    assert (
        hma.http.put(f"/c/bank/{name}/content/{content_id}", json={"disable_until_ts": 1}).status_code == 200
    )
    assert hma.raw_lookup(AAA_ORIG_PDQ, banks=name).json() == {"matches": [content_id]}
    too_far = hma.http.put(f"/c/bank/{name}/content/{content_id}", json={"disable_until_ts": 9999999999})
    assert too_far.status_code == 400 and set(too_far.json()) == {"message"}

    r = hma.http.delete(f"/c/bank/{name}/content/{content_id}")
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert hma.raw_lookup(AAA_ORIG_PDQ, banks=name).json() == {"matches": []}
    assert hma.http.get(f"/c/bank/{name}/content/{content_id}").status_code == 404
    assert hma.http.get(f"/c/bank/NO_SUCH_BANK/content/{content_id}").status_code == 404


def test_add_signal_and_metadata(hma: HmaClient, pdq_data: Path) -> None:
    name = _name()
    hma.create_bank(name)
    r = hma.http.post(f"/c/bank/{name}/signal", json={"pdq": C_PNG_PDQ})
    assert r.status_code == 200 and r.json()["signals"] == {"pdq": C_PNG_PDQ}
    assert hma.raw_lookup(C_PNG_PDQ, banks=name).json() == {"matches": [r.json()["id"]]}

    bad = hma.add_photo(name, pdq_data / "bridge-mods" / "aaa-orig.jpg", metadata={"invalid_metadata": 5})
    assert bad.status_code == 400 and set(bad.json()) == {"message"}
    good = hma.add_photo(
        name,
        pdq_data / "bridge-mods" / "aaa-orig.jpg",
        metadata={"content_id": "1197433091", "json": {"asdf": {}}},
    )
    assert good.status_code == 200
    shown = hma.http.get(f"/c/bank/{name}/content/{good.json()['id']}").json()
    assert shown["metadata"] == {
        "collab": None,
        "content_id": "1197433091",
        "content_uri": None,
        "json": {"asdf": {}},
    }


def test_compare(hma: HmaClient) -> None:
    near = AAA_ORIG_PDQ[:-2] + "00"
    r = hma.http.post("/m/compare", json={"pdq": [AAA_ORIG_PDQ, near]})
    assert r.status_code == 200
    matched, info = r.json()["pdq"]
    assert matched is True and info == {"distance": bin(0x22).count("1")}
    far = hma.http.post("/m/compare", json={"pdq": [AAA_ORIG_PDQ, C_PNG_PDQ]}).json()["pdq"]
    assert far[0] is False and far[1]["distance"] > 31
    assert hma.http.post("/m/compare", json={"pdq": [AAA_ORIG_PDQ]}).status_code == 400


def test_errors_carry_a_message(hma: HmaClient) -> None:
    for r in (
        hma.http.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": "abc"}),
        hma.http.get("/m/raw_lookup", params={"signal_type": "nope", "signal": AAA_ORIG_PDQ}),
        hma.http.get("/m/lookup"),
        hma.http.post("/h/hash"),
        hma.http.get("/c/bank/NO_SUCH_BANK"),
    ):
        assert 400 <= r.status_code < 500
        body = r.json()
        assert set(body) == {"message"} and isinstance(body["message"], str) and body["message"]
