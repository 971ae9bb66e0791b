"""The one bounded JSON parser (web/jsonbody.py): what it refuses, what it keeps, and that every route
of the app parses with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from takeback.config import Settings
from takeback.web.app import create_app
from takeback.web.jsonbody import MAX_DEPTH, GuardedRoute, JsonBodyError, loads_bounded
from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service

JPEG = encode(synthetic_photo(64, 64, seed=3))
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b'{"a":' * 100_000, "nests deeper"),
        (b"[" * 1000 + b"]" * 1000, "nests deeper"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nests deeper"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "digits"),
        (b'{"a": 1e999999}', "too large"),
        (b'{"a": NaN}', "NaN is not"),
        (b'{"a": -Infinity}', "-Infinity is not"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": "\\ud800"}', "unpaired surrogate"),
        (b'{"\\udfff": 1}', "unpaired surrogate"),
        (b'{"a": "x\\u0000y"}', "NUL"),
        (b'{"a": 1', "Expecting"),
        (b"", "Expecting value"),
    ],
)
def test_refusals_say_why(text: bytes, why: str) -> None:
    with pytest.raises(JsonBodyError, match=why):
        loads_bounded(text)


def test_ordinary_json_is_parsed_as_json_would() -> None:
    batch = {"signal_type": "pdq", "hashes": [PDQ] * 10_000, "banks": ["a", "b"]}
    assert loads_bounded(json.dumps(batch).encode()) == batch
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        deep = {"k": [deep]} if isinstance(deep, str) else [deep]
    assert loads_bounded(json.dumps(deep)) == deep
    assert loads_bounded('\ufeff{"bom": "ignored", "smile": "\\ud83d\\ude00", "n": -1.5e3}') == {
        "bom": "ignored",
        "smile": "\U0001f600",
        "n": -1500.0,
    }
    assert loads_bounded(b"[[[[]]]] ") == [[[[]]]]  # brackets in plenty, depth small


def test_every_route_parses_json_through_the_guard() -> None:
    from fastapi.routing import APIRoute

    app = create_app(Settings())
    routes: list[Any] = list(app.routes)
    try:
        from fastapi.routing import iter_route_contexts

        routes = [c.original_route for c in iter_route_contexts(app.routes)]
    except ImportError:
        pass
    api_routes = [r for r in routes if isinstance(r, APIRoute)]
    assert len(api_routes) >= 20
    assert [r.path for r in api_routes if not isinstance(r, GuardedRoute)] == []


def test_hostile_json_is_400_invalid_json_over_http(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("json")
    nested = b'{"a":' * 100_000
    # the request: it answered 500 with a RecursionError in the log (HMA's route: 400 {"message"})
    r = c.post(f"/c/bank/{bank}/content", params={"url": "x"}, content=nested,
               headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and set(r.json()) == {"message"}, r.text
    for path, body in [  # HMA's routes: 400 {"message"}
        ("/c/banks", b'{"name": "A", "name": "B"}'),
        (f"/c/bank/{bank}/signal", b'{"pdq": "' + PDQ.encode() + b'", "note": "\\ud800"}'),
    ]:
        r = c.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and set(r.json()) == {"message"}, (path, r.text)
    for path, body in [  # takeback's routes: 400 invalid_json, saying why
        ("/v1/match", b'{"pdq": "' + PDQ.encode() + b'", "banks": [NaN]}'),
        ("/v1/match/batch", b'{"hashes": ["\xff"]}'),
        ("/v1/keys", b'{"role": "matcher", "rate_limit": 1e400}'),
    ]:
        r = c.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_json", (path, r.text)
    r = c.post("/v1/match", content=nested, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "nests deeper" in r.json()["message"], r.text
    # a multipart upload's JSON field goes through the same parser (HMA's 400)
    r = c.post(f"/c/bank/{bank}/content", files={"photo": ("a.jpg", JPEG)}, data={"metadata": "[" * 50_000})
    assert r.status_code == 400 and set(r.json()) == {"message"}, r.text
    # ordinary bodies are untouched
    assert c.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ, "note": "fine"}).status_code == 200
    assert service.entries(bank) == 1
