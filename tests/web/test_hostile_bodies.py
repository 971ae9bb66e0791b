"""No input makes any route answer 500: hostile JSON bodies, wrong content types and odd path values
are sent to EVERY route of the app (taken from ``app.routes``, so a new route is covered the day it is
added), over HTTP, with an admin key (which gets furthest into every handler)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from takeback.auth import Role
from takeback.web.app import create_app
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

#: (label, body bytes); each is sent as application/json
HOSTILE_JSON: list[tuple[str, bytes]] = [
    ("nested-unterminated", b'{"a":' * 100_000),
    ("nested-arrays", b"[" * 100_000 + b"]" * 100_000),
    ("nested-deep-but-parseable", b'{"metadata":' * 900 + b"{}" + b"}" * 900),
    (
        "nested-in-a-field",
        b'{"name":"x","pdq":"' + PDQ.encode() + b'","note":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ),
    ("invalid-utf8", b'{"name": "\xff\xfe\xc3", "pdq": "\xc0\xaf", "hashes": ["\xed\xa0\x80"]}'),
    ("lone-surrogate-escape", b'{"name": "\\ud800", "note": "\\udfff", "hashes": ["\\ud800"]}'),
    ("huge-int", b'{"name": 1' + b"9" * 100_000 + b', "disable_until_ts": 1' + b"0" * 5000 + b"}"),
    ("huge-float", b'{"pdq_threshold": 1e999999, "rate_limit": 1e999999, "enabled_ratio": -1e999}'),
    ("huge-but-finite", b'{"rate_limit": 1.7e308, "disable_until_ts": 99999999999999999999999}'),
    ("nan", b'{"name": NaN, "enabled_ratio": NaN, "rate_limit": NaN, "pdq_threshold": NaN}'),
    ("infinity", b'{"rate_limit": Infinity, "enabled_ratio": -Infinity, "disable_until_ts": Infinity}'),
    (
        "duplicate-keys",
        b'{"name": "a", "name": "b", "role": "matcher", "role": "admin", "pdq": "x", "pdq": "y"}',
    ),
    ("bom", b'\xef\xbb\xbf{"name": "bom"}'),
    ("utf16", '{"name": "utf16"}'.encode("utf-16")),
    ("empty", b""),
    ("whitespace", b" \r\n\t "),
    ("truncated", b'{"name": "x"'),
    ("scalar", b"42"),
    ("array", b'["pdq", "md5"]'),
    ("string", b'"hello"'),
    ("null", b"null"),
    ("nul-bytes", b'{"name": "a\x00b"}\x00\x00'),
    ("control-chars", b'{"name": "a\x01\x1fb", "note": "\x1b[31mred"}'),
    ("wrong-types", b'{"name": {"x": 1}, "hashes": {"a": 1}, "banks": 7, "role": [], "metadata": [1]}'),
    ("long-string", b'{"name": "' + b"a" * 1_000_000 + b'"}'),
    ("many-keys", b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(50_000)) + b"}"),
]

#: (label, content type, body): JSON sent under other types, and other bodies under JSON's
WRONG_TYPES: list[tuple[str, str, bytes]] = [
    ("json-as-text", "text/plain", b'{"name": "x", "pdq": "' + PDQ.encode() + b'"}'),
    ("json-as-form", "application/x-www-form-urlencoded", b'{"name": "x"}'),
    ("form-as-json", "application/json", b"name=x&pdq=y"),
    ("multipart-no-boundary", "multipart/form-data", b"--x\r\n\r\n"),
    ("multipart-bad", "multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
    ("json-latin1-charset", "application/json; charset=latin-1", '{"name": "é"}'.encode("latin-1")),
    ("json-suffix", "application/problem+json", b'{"a":' * 10_000),
    ("bogus-type", 'application/json\x7f; x="', b"{}"),
    ("no-type", "", b'{"a":' * 100_000),
]

#: odd values for path parameters, by parameter name
ODD_PATH_VALUES: dict[str, list[str]] = {
    "bank_name": ["nope", "a" * 5000, "%00", "..", "b%C3%A9", "%ff%fe", "a%2Fb"],
    "content_id": ["9" * 40, "-1", "0", "1e3", "x", "9223372036854775808", "-9223372036854775809"],
    "key_id": ["nope", "a" * 5000, "%00", "%ff"],
}


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, mounted ones included."""
    from takeback.config import Settings

    app = create_app(Settings())
    routes: Iterable[Any] = app.routes
    try:  # FastAPI >= 0.16x keeps included routers as one entry each: flatten them
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:
        pass
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(getattr(route, "original_route", route), Mount):
            found.append(("GET", route.path + "/nope.js"))
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    return found


ROUTES = _routes()


def test_every_route_is_probed() -> None:
    paths = {p for _, p in ROUTES}
    assert "/c/bank/{bank_name}/content" in paths and "/v1/keys/{key_id}" in paths
    assert len(ROUTES) >= 25


def _fill(service: Service, path: str) -> str:
    """``path`` with real objects in it: a fresh bank (routes may delete it), an entry, a key."""
    admin = service.client(service.admin)
    if "{bank_name}" in path:
        bank = service.bank("hostile")
        path = path.replace("{bank_name}", bank)
        if "{content_id}" in path:
            created = admin.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ})
            path = path.replace("{content_id}", str(created.json()["id"]))
    if "{key_id}" in path:
        path = path.replace("{key_id}", service.key(Role.MATCHER).split("_")[1])
    return path


def _problem(r: httpx.Response, what: Any) -> str | None:
    """Why ``r`` is not an acceptable answer to hostile input, or None: no 5xx, errors as JSON."""
    if r.status_code >= 500:
        return f"{what}: {r.status_code} {r.text[:200]}"
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        # HMA's routes answer {"message"} (a typed-parameter 422 is pydantic's list, as in HMA);
        # /v1 answers {"code", "message"}
        hma = r.request.url.path.startswith(("/c/", "/m/", "/h/"))
        if hma and r.status_code == 422 and isinstance(body, list):
            return None
        wanted = {"message"} if hma else {"code", "message"}
        if not (isinstance(body, dict) and wanted <= set(body)):
            return f"{what}: error body without {'/'.join(sorted(wanted))}: {r.text[:200]}"
    return None


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_body_makes_a_route_answer_500(service: Service, method: str, path: str) -> None:
    c = service.client(service.admin)
    filled = _fill(service, path)
    problems: list[str | None] = []
    cases = [(label, "application/json", body) for label, body in HOSTILE_JSON] + WRONG_TYPES
    for label, ctype, body in cases:
        if method == "DELETE":  # the last call deleted what it named
            filled = _fill(service, path)
        headers = {"Content-Type": ctype} if ctype else {}
        # url=x: the routes that take a URL then read their JSON body (the 500 was there)
        try:
            r = c.request(method, filled, content=body, params={"url": "x"}, headers=headers)
        except httpx.TransportError as exc:  # e.g. reset after a 500 left the body unread
            problems.append(f"{label}: no answer ({type(exc).__name__})")
            continue
        problems.append(_problem(r, label))
    bad = [p for p in problems if p]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p in ROUTES if "{" in p],
    ids=[f"{m} {p}" for m, p in ROUTES if "{" in p],
)
def test_no_path_value_makes_a_route_answer_500(service: Service, method: str, path: str) -> None:
    c = service.client(service.admin)
    problems: list[str | None] = []
    for name, values in ODD_PATH_VALUES.items():
        if "{" + name + "}" not in path:
            continue
        for value in values:
            filled = _fill(service, path.replace("{" + name + "}", value))
            r = c.request(method, filled, json={"pdq": PDQ} if method in ("POST", "PUT") else None)
            problems.append(_problem(r, (name, value)))
    bad = [p for p in problems if p]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "query",
    ["signal_type=pdq&signal=%00", "signal_type=%00&signal=" + PDQ, "url=http%3A%2F%2Fa%00b"],
)
def test_a_nul_in_a_query_is_refused_with_a_sentence_on_every_store(service: Service, query: str) -> None:
    # PostgreSQL text cannot hold NUL: without the guard such a value reached a query and gave a 500
    for path in ("/m/lookup", "/m/raw_lookup", "/c/banks", "/v1/match"):
        r = service.client(service.admin).get(f"{path}?{query}")
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert r.json()["code"] == "invalid_request"
        assert "NUL" in r.json()["message"]
