"""Bank names never leak: every route that takes a bank name, asked by every role (scoped and not)
for a bank that does not exist and for one outside the key's scope, answers naming only the banks
that key may see (docs/API.md, "Bank scope"). Bank names can identify a victim or a case.

What each key may be told: admin and unscoped curator keys every bank (they can list them); a scoped
key its own banks; an unscoped matcher or submitter key none. A bank outside a key's scope answers
exactly as a bank that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from takeback.auth import Role
from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PHOTO = encode(synthetic_photo(96, 96, seed=12))

#: (method, path, request kwargs): "{b}" is the bank name asked for, "{c}" an entry id in it
BANK_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/c/bank/{b}", {}),
    ("PUT", "/c/bank/{b}", {"json": {"pdq_threshold": 30}}),
    ("DELETE", "/c/bank/{b}", {}),
    ("POST", "/c/bank/{b}/content", {"files": {"photo": ("a.jpg", PHOTO, "image/jpeg")}}),
    ("POST", "/c/bank/{b}/content", {"params": {"url": "https://example.org/a.jpg"}}),
    ("POST", "/c/bank/{b}/signal", {"json": {"pdq": PDQ}}),
    ("GET", "/c/bank/{b}/content/{c}", {}),
    ("PUT", "/c/bank/{b}/content/{c}", {"json": {"disable_until_ts": 1}}),
    ("DELETE", "/c/bank/{b}/content/{c}", {}),
    ("GET", "/m/raw_lookup", {"params": {"signal_type": "pdq", "signal": PDQ, "banks": "{b}"}}),
    ("GET", "/m/lookup", {"params": {"signal_type": "pdq", "signal": PDQ, "banks": "{b}"}}),
    ("GET", "/m/lookup", {"params": {"signal_type": "vpdq", "signal": "00" * 41, "banks": "{b}"}}),
    ("POST", "/m/lookup", {"params": {"banks": "{b}"}, "files": {"photo": ("a.jpg", PHOTO)}}),
    ("POST", "/v1/match", {"params": {"banks": "{b}"}, "json": {"pdq": PDQ}}),
    ("POST", "/v1/match", {"json": {"pdq": PDQ, "banks": ["{b}"]}}),
    ("POST", "/v1/match", {"params": {"banks": "{b}"}, "files": {"photo": ("a.jpg", PHOTO)}}),
    ("POST", "/v1/match/batch", {"json": {"hashes": [PDQ], "banks": ["{b}"]}}),
    ("POST", "/v1/keys", {"json": {"role": "matcher", "banks": ["{b}"]}}),
    ("GET", "/v1/feed/{b}", {}),
    (
        "POST",
        "/v1/feed/{b}/feedback",
        {"json": {"items": [{"key": "pdq:" + PDQ, "giver": "g", "opinion": "negative"}]}},
    ),
    ("POST", "/v1/feedback", {"json": {"bank": "{b}", "content_id": "{c}", "opinion": "negative"}}),
    ("GET", "/v1/banks/{b}/held", {}),
    ("POST", "/v1/banks/{b}/hold", {"json": {"content_ids": [1], "reason": "disputed"}}),
    ("POST", "/v1/banks/{b}/held/accept", {"json": {"all": True}}),
    ("POST", "/v1/banks/{b}/held/reject", {"json": {"all": True}}),
]


def test_the_table_covers_every_route_that_takes_a_bank_name(service: Service) -> None:
    doc = service.client().get("/openapi.json").json()
    takes: set[tuple[str, str]] = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = {p["name"] for p in op.get("parameters", [])}
            body = op.get("requestBody", {}).get("content", {})
            schemas = [c.get("schema", {}) for c in body.values()]
            refs = [doc["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]] for s in schemas if "$ref" in s]
            in_body = any({"bank", "banks"} & set(s.get("properties", {})) for s in schemas + refs)
            if "bank_name" in params or "banks" in params or in_body:
                takes.add((method.upper(), path.replace("{bank_name}", "{b}").replace("{content_id}", "{c}")))
    assert takes == {(m, p) for m, p, _ in BANK_ROUTES}


def _render(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in names.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, names) for v in value]
    if isinstance(value, tuple):
        return tuple(_render(v, names) for v in value)
    return value


def _ask(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], bank: str, content: int
) -> httpx.Response:
    names = {"b": bank, "c": str(content)}
    return client.request(method, _render(path, names), **_render(kwargs, names))


@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
@pytest.mark.parametrize("role", list(Role))
def test_no_route_names_a_bank_the_key_may_not_see(service: Service, role: Role, scoped: bool) -> None:
    if role is Role.ADMIN and scoped:
        pytest.skip("admin keys cannot be scoped")
    if role is Role.EXCHANGE and not scoped:
        pytest.skip("exchange keys must name the banks they may pull")
    tag = uuid.uuid4().hex[:6]
    mine, other = service.bank(f"mine-{tag}"), service.bank(f"secret-victim-{tag}")
    admin = service.client(service.admin)
    entry = admin.post(f"/c/bank/{other}/signal", json={"pdq": "e" * 64}).json()["id"]
    everyone = [mine, other]
    may_see = (
        [mine] if scoped
        else everyone if role in (Role.ADMIN, Role.CURATOR)
        else []
    )  # fmt: skip
    client = service.client(service.key(role, banks=[mine] if scoped else None, rate_limit=0))
    unknown = f"nope-{tag}"
    for method, path, kwargs in BANK_ROUTES:
        asked = [unknown, other] if scoped else [unknown]
        answers = []
        for bank in asked:
            r = _ask(client, method, path, kwargs, bank, entry)
            where = (role.value, scoped, method, path, bank, r.status_code, r.text[:300])
            body = r.json()
            if r.status_code == 403:  # a role refusal comes before any bank is looked at
                assert body["code"] == "forbidden", where
            elif path.startswith("/v1"):
                assert r.status_code == 404 and body["code"] == "unknown_bank", where
            elif path.startswith("/m/"):  # HMA: a lookup in a bank it does not know matches nothing
                assert r.status_code == 200 and body in ({}, {"matches": []}, {"pdq": {}}), where
            elif (method, path) == ("DELETE", "/c/bank/{b}"):  # HMA: deleting no bank is done
                assert (r.status_code, body) == (200, {"message": "Done"}), where
            else:  # HMA's 404 {"message"}
                assert r.status_code == 404 and set(body) == {"message"}, where
            told = r.text.replace(bank, "{asked}")
            for name in everyone:
                if name not in may_see:
                    assert name not in told, where
            answers.append((r.status_code, told))
        # a bank outside the scope reads exactly as one that does not exist
        assert len(set(answers)) == 1, (role.value, method, path, answers)
    # the bank outside the scope was not touched by any of it
    assert service.entries(other) == 1


def test_the_hint_lists_the_banks_the_key_may_see(service: Service) -> None:
    tag = uuid.uuid4().hex[:6]
    mine, other = service.bank(f"mine-{tag}"), service.bank(f"secret-victim-{tag}")
    nope = f"NOPE_{tag.upper()}"
    # takeback's route hints at the banks the key may see
    scoped = service.client(service.key(Role.CURATOR, banks=[mine]))
    message = scoped.post("/v1/match", json={"pdq": PDQ, "banks": [nope]}).json()["message"]
    assert f"No bank called '{nope}'." in message and mine in message and other not in message
    admin = service.client(service.admin)
    message = admin.post("/v1/keys", json={"role": "matcher", "banks": [nope]}).json()["message"]
    assert mine in message or "Banks:" in message  # all banks (20 at most) for who may list them
    matcher = service.client(service.key(Role.MATCHER))
    r = matcher.post("/v1/match", json={"pdq": PDQ, "banks": [nope]})
    assert r.status_code == 404 and r.json()["message"] == f"No bank called '{nope}'."
    # HMA's route says only what HMA says, naming no other bank
    r = scoped.get(f"/c/bank/{nope}")
    assert (r.status_code, r.json()) == (404, {"message": f"bank '{nope}' not found"})
