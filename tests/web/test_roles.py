"""Every route against every role: forbidden calls are 403, allowed ones are not; scoped keys stay in
their banks. The table below is the contract; the OpenAPI check makes sure no route escapes it."""

from __future__ import annotations

from typing import Any

import pytest

from takeback.auth import Role
from takeback.auth.models import ROLE_PERMISSIONS, Permission
from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PHOTO = encode(synthetic_photo(320, 240, seed=5))

# (method, path template, request kwargs, permission needed)
ROUTES: list[tuple[str, str, dict[str, Any], Permission]] = [
    ("GET", "/h/hash", {"params": {"url": "https://example.org/a.jpg"}}, Permission.LOOKUP),
    ("POST", "/h/hash", {"files": {"photo": ("a.jpg", PHOTO, "image/jpeg")}}, Permission.LOOKUP),
    ("GET", "/m/raw_lookup", {"params": {"signal_type": "pdq", "signal": PDQ}}, Permission.LOOKUP),
    ("GET", "/m/lookup", {"params": {"signal_type": "pdq", "signal": PDQ}}, Permission.LOOKUP),
    ("POST", "/m/lookup", {"files": {"photo": ("a.jpg", PHOTO, "image/jpeg")}}, Permission.LOOKUP),
    ("POST", "/m/compare", {"json": {"pdq": [PDQ, PDQ]}}, Permission.LOOKUP),
    ("GET", "/m/index/status", {}, Permission.LOOKUP),
    ("POST", "/v1/match", {"json": {"pdq": PDQ}}, Permission.LOOKUP),
    ("POST", "/v1/match/batch", {"json": {"hashes": [PDQ]}}, Permission.LOOKUP),
    ("GET", "/c/banks", {}, Permission.READ_BANKS),
    ("POST", "/c/banks", {"json": {"name": "{new}"}}, Permission.MANAGE_BANKS),
    ("GET", "/c/bank/{bank}", {}, Permission.READ_BANKS),
    ("PUT", "/c/bank/{bank}", {"json": {"pdq_threshold": 30}}, Permission.MANAGE_BANKS),
    ("DELETE", "/c/bank/{doomed}", {}, Permission.MANAGE_BANKS),
    (
        "POST",
        "/c/bank/{bank}/content",
        {"files": {"photo": ("a.jpg", PHOTO, "image/jpeg")}},
        Permission.SUBMIT,
    ),
    ("POST", "/c/bank/{bank}/signal", {"json": {"pdq": "{fresh_pdq}"}}, Permission.SUBMIT),
    ("GET", "/c/bank/{bank}/content/{content}", {}, Permission.READ_BANKS),
    ("PUT", "/c/bank/{bank}/content/{content}", {"json": {"disable_until_ts": 1}}, Permission.MANAGE_BANKS),
    ("DELETE", "/c/bank/{bank}/content/{doomed_content}", {}, Permission.MANAGE_BANKS),
    ("GET", "/c/signal_type", {}, Permission.READ_BANKS),
    ("PUT", "/c/signal_type/{stype}", {"json": {"enabled_ratio": 1}}, Permission.MANAGE_BANKS),
    ("GET", "/c/signal_type/index", {}, Permission.LOOKUP),
    ("GET", "/c/content_type", {}, Permission.READ_BANKS),
    ("GET", "/c/exchanges/apis", {}, Permission.READ_BANKS),
    ("GET", "/c/exchanges/api/{api}", {}, Permission.READ_BANKS),
    ("POST", "/c/exchanges/api/{api}", {"json": {}}, Permission.MANAGE_KEYS),
    ("GET", "/c/exchanges/api/{api}/schema", {}, Permission.READ_BANKS),
    ("GET", "/c/exchanges", {}, Permission.READ_BANKS),
    ("POST", "/c/exchanges", {"json": {"bank": "{new}", "api": "sample"}}, Permission.MANAGE_BANKS),
    ("GET", "/c/exchange/{exchange}", {}, Permission.READ_BANKS),
    ("GET", "/c/exchange/{exchange}/status", {}, Permission.READ_BANKS),
    ("PUT", "/c/exchange/{exchange}", {"json": {"enabled": True}}, Permission.MANAGE_BANKS),
    ("DELETE", "/c/exchange/{exchange}", {}, Permission.MANAGE_BANKS),
    ("GET", "/site-map", {}, Permission.READ_BANKS),
    ("GET", "/v1/keys", {}, Permission.MANAGE_KEYS),
    ("POST", "/v1/keys", {"json": {"role": "matcher"}}, Permission.MANAGE_KEYS),
    ("GET", "/v1/keys/{key_id}", {}, Permission.MANAGE_KEYS),
    ("DELETE", "/v1/keys/{doomed_key}", {}, Permission.MANAGE_KEYS),
    ("GET", "/v1/feed/key", {}, Permission.READ_FEED),
    ("GET", "/v1/feed/{bank}", {}, Permission.READ_FEED),
    (
        "POST",
        "/v1/feed/{bank}/feedback",
        {"json": {"items": [{"key": "pdq:{fresh_pdq}", "giver": "g", "opinion": "negative"}]}},
        Permission.RELAY_FEEDBACK,
    ),
    (
        "POST",
        "/v1/feedback",
        {"json": {"bank": "{bank}", "content_id": "{content}", "opinion": "positive"}},
        Permission.FEEDBACK,
    ),
    ("GET", "/v1/banks/{bank}/held", {}, Permission.MANAGE_BANKS),
    (
        "POST",
        "/v1/banks/{bank}/hold",
        {"json": {"content_ids": [1], "reason": "disputed"}},
        Permission.MANAGE_BANKS,
    ),
    ("POST", "/v1/banks/{bank}/held/accept", {"json": {"all": True}}, Permission.MANAGE_BANKS),
    ("POST", "/v1/banks/{bank}/held/reject", {"json": {"all": True}}, Permission.MANAGE_BANKS),
]


def test_the_table_covers_every_route(service: Service) -> None:
    paths = service.client().get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops if not p.startswith("/status")}
    normalise = {
        "{bank}": "{bank_name}",
        "{doomed}": "{bank_name}",
        "{content}": "{content_id}",
        "{doomed_content}": "{content_id}",
        "{doomed_key}": "{key_id}",
        "{stype}": "{signal_type_name}",
        "{api}": "{api_name}",
        "{exchange}": "{exchange_name}",
    }
    tabled = set()
    for method, path, _, _ in ROUTES:
        for k, v in normalise.items():
            path = path.replace(k, v)
        tabled.add((method, path))
    assert documented == tabled


def _fill(service: Service, n: int) -> dict[str, str]:
    """Fresh objects for one call: banks, an entry, keys to delete."""
    bank = service.bank("roles")
    doomed = service.bank("doomed")
    admin = service.client(service.admin)
    fresh = [f"{(n * 7919 + i) % 2**32:08x}" * 8 for i in range(2)]
    content = admin.post(f"/c/bank/{bank}/signal", json={"pdq": fresh[0]}).json()["id"]
    doomed_content = admin.post(f"/c/bank/{bank}/signal", json={"pdq": fresh[1]}).json()["id"]
    key_id = service.key(Role.MATCHER).split("_")[1]
    doomed_key = service.key(Role.MATCHER).split("_")[1]
    return {
        "bank": bank,
        "doomed": doomed,
        "content": str(content),
        "doomed_content": str(doomed_content),
        "key_id": key_id,
        "doomed_key": doomed_key,
        "new": f"NEW_{n}",
        "stype": "pdq",
        "api": "sample",
        "exchange": f"NO_EXCHANGE_{n}",  # a 404 for roles that may ask
        "fresh_pdq": f"{(n * 104729) % 2**32:08x}" * 8,
    }


def _render(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in names.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _render(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_routes(service: Service, role: Role) -> None:
    offered = [service.bank("offered")] if role is Role.EXCHANGE else None  # exchange keys name banks
    client = service.client(service.key(role, rate_limit=0, banks=offered))
    allowed = ROLE_PERMISSIONS[role]
    for n, (method, path, kwargs, permission) in enumerate(ROUTES):
        names = _fill(service, n * 10 + list(Role).index(role))
        r = client.request(method, _render(path, names), **_render(kwargs, names))
        if permission in allowed:
            # (a 403 for another reason, e.g. URL fetching being off, is not a role refusal)
            assert r.status_code not in (401, 403) or r.json()["code"] != "forbidden", (role, path, r.text)
            assert r.status_code != 401
        else:
            assert r.status_code == 403, (role, method, path, r.status_code, r.text)
            assert r.json()["code"] == "forbidden"


def test_scoped_keys_stay_in_their_banks(service: Service) -> None:
    mine, other = service.bank("mine"), service.bank("other")
    admin = service.client(service.admin)
    pdq_mine, pdq_other = "1" * 64, "e" * 64
    admin.post(f"/c/bank/{mine}/signal", json={"pdq": pdq_mine})
    other_id = admin.post(f"/c/bank/{other}/signal", json={"pdq": pdq_other}).json()["id"]

    matcher = service.client(service.key(Role.MATCHER, banks=[mine]))
    assert matcher.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_mine}).json()["matches"]
    # a match in a bank outside the scope is invisible, and that bank reads as one that does not exist
    assert matcher.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_other}).json() == {
        "matches": []
    }
    r = matcher.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_other, "banks": other})
    unknown = matcher.get(
        "/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_other, "banks": "NO_SUCH"}
    )
    assert (r.status_code, r.json()) == (unknown.status_code, unknown.json()) == (200, {"matches": []})
    r = matcher.post("/v1/match", json={"pdq": pdq_other, "banks": [other]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bank"

    submitter = service.client(service.key(Role.SUBMITTER, banks=[mine]))
    assert submitter.post(f"/c/bank/{mine}/signal", json={"pdq": "2" * 64}).status_code == 200
    assert submitter.post(f"/c/bank/{other}/signal", json={"pdq": "3" * 64}).status_code == 404

    curator = service.client(service.key(Role.CURATOR, banks=[mine]))
    assert [b["name"] for b in curator.get("/c/banks").json()] == [mine]
    assert curator.get(f"/c/bank/{other}").status_code == 404
    assert curator.delete(f"/c/bank/{other}/content/{other_id}").status_code == 404
    r = curator.post("/c/banks", json={"name": "SNEAKY"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    # renaming a bank keeps it in scope (keys hold bank ids)
    renamed = mine + "_RENAMED"
    assert curator.put(f"/c/bank/{mine}", json={"name": renamed}).status_code == 200
    assert curator.get(f"/c/bank/{renamed}").status_code == 200
    assert matcher.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_mine}).json()["matches"]
