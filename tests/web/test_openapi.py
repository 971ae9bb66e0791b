"""``/openapi.json`` describes every answer: each route is called with valid requests (and a few
invalid ones) and every body is validated against the schema the document declares for its route
and status. A body that drifts from its declared model fails here, a status a route does not declare
fails here, and a route that is not called here fails here, so a new route arrives with its model."""

from __future__ import annotations

import dataclasses
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import jsonschema
import pytest
from fastapi.responses import JSONResponse, PlainTextResponse

from takeback.auth import Role
from takeback.config import Settings
from takeback.net import fetch
from takeback.signals import REGISTRY
from takeback.web.app import create_app
from tests.conftest import encode, synthetic_photo
from tests.video.conftest import cut_clip
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "ab" * 16
VPDQ = REGISTRY["vpdq"].examples[0]
METHODS = ("get", "post", "put", "delete", "patch")


class OpenApiChecker:
    """Validates responses against ``/openapi.json`` and remembers which operations it saw."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, r: httpx.Response, template: str) -> httpx.Response:
        method = r.request.method.lower()
        op = self.doc["paths"][template][method]
        declared = op["responses"].get(str(r.status_code))
        assert declared is not None, (
            f"{method.upper()} {template} answered {r.status_code} ({r.text[:200]}), which it does not "
            f"declare (declared: {sorted(op['responses'])})"
        )
        if r.status_code == 204:  # no body, and none declared
            assert r.content == b"" and not declared.get("content"), f"{method.upper()} {template} 204"
            self.seen.add((method, template))
            return r
        media = r.headers["content-type"].split(";")[0].strip()
        content = declared.get("content", {})
        assert media in content, (
            f"{method.upper()} {template} {r.status_code}: {media} not in {list(content)}"
        )
        # the document's components beside the schema, so its "#/components/..." references resolve
        schema = {**content[media]["schema"], "components": self.doc.get("components", {})}
        body = r.json() if media == "application/json" else r.text
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, (
            f"{method.upper()} {template} {r.status_code}: the body does not match its schema: "
            + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
        )
        if 200 <= r.status_code < 300:
            self.seen.add((method, template))
        return r


def _operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, path) for path, ops in doc["paths"].items() for m in ops if m in METHODS}


def _routes(app: Any) -> list[Any]:
    """The app's routes, its routers' flattened (newer FastAPI includes routers lazily)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(flatten(app.routes)) if flatten is not None else list(app.routes)


def test_every_route_declares_its_response_schemas() -> None:
    """Every operation has a success response with a schema, and its error bodies are described;
    JSON routes render with JSONResponse (json.dumps, as the fast path does: see web/responses.py)."""
    app = create_app(Settings(database_url="sqlite://"))
    doc = app.openapi()
    documented = [r for r in _routes(app) if getattr(r, "include_in_schema", False) and r.methods]
    routes = {(m.lower(), r.path) for r in documented for m in r.methods if m != "HEAD"}
    for r in documented:
        if r.response_class is not PlainTextResponse:
            assert r.response_class is JSONResponse, (r.path, r.response_class)
            assert r.response_model is not None or r.status_code == 204, f"{r.path} has no response_model"
    assert routes == _operations(doc)
    for method, path in sorted(routes):
        responses = doc["paths"][path][method]["responses"]
        ok = [s for s in responses if s.startswith("2")]
        assert ok, f"{method} {path} declares no success response"
        for status in ok:
            if status == "204":
                assert "content" not in responses[status], f"{method} {path} 204 declares a body"
                continue
            content = responses[status].get("content", {})
            assert content, f"{method} {path} {status} has no content"
            for media, body in content.items():
                assert body.get("schema") not in (None, {}), f"{method} {path} {status} {media}: no schema"
        if path.startswith("/status"):
            continue  # no key, no errors but 503
        for status in ("401", "403"):
            assert status in responses, f"{method} {path} does not describe {status}"
        if any(p.get("required") for p in doc["paths"][path][method].get("parameters", [])):
            assert "422" in responses, f"{method} {path} does not describe 422"


@pytest.fixture(scope="module")
def video(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    src = shared_data / "video" / "pattern-sd-grey-bar.mp4"
    out = tmp_path_factory.mktemp("openapi-video") / "clip.mp4"
    return cut_clip(src, out, start=0.0, seconds=2, width=160, height=120, crf=30).read_bytes()


@pytest.fixture(scope="module")
def origin(video: bytes) -> Iterator[str]:
    """A local web server for URL hashing: /photo.jpg (the allow-listed photo) and /video.mp4."""
    files = {"/photo.jpg": encode(synthetic_photo(320, 240, seed=8)), "/video.mp4": video}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def loopback_fetch(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    real_policy = fetch.FetchPolicy
    monkeypatch.setattr(
        fetch, "FetchPolicy", lambda **kw: dataclasses.replace(real_policy(**kw), allow_loopback=True)
    )
    monkeypatch.setattr(service.settings, "url_allowlist", "127.0.0.1")


def exercise(
    service: Service, check: Callable[[httpx.Response, str], httpx.Response], origin: str, video: bytes
) -> None:
    """Every route with valid requests (each shape its answer can take), and some error answers."""
    admin = service.client(service.admin)
    matcher = service.client(service.key(Role.MATCHER))
    photo = encode(synthetic_photo(320, 240, seed=7))  # in a bank
    other_photo = encode(synthetic_photo(320, 240, seed=8))  # in a bank and an allow-list

    # --- status ---
    check(httpx.get(f"{service.url}/status"), "/status")
    check(httpx.get(f"{service.url}/status/live"), "/status/live")

    # --- curation ---
    bank = service.bank("openapi")
    allow = service.bank("openapi-allow", allow_list=True)
    check(admin.post("/c/banks", json={"name": f"{bank}_NEW", "enabled_ratio": 0.0}), "/c/banks")
    check(admin.get("/c/banks"), "/c/banks")
    check(admin.get("/c/banks", params={"details": "true"}), "/c/banks")
    check(admin.get(f"/c/bank/{bank}"), "/c/bank/{bank_name}")
    check(admin.get(f"/c/bank/{bank}", params={"details": "true"}), "/c/bank/{bank_name}")
    check(admin.put(f"/c/bank/{bank}", json={"enabled_ratio": 1.0}), "/c/bank/{bank_name}")
    check(admin.put(f"/c/bank/{bank}", json={"enabled": True}), "/c/bank/{bank_name}")
    check(admin.delete(f"/c/bank/{bank}_NEW"), "/c/bank/{bank_name}")
    check(admin.delete(f"/c/bank/{bank}_GONE"), "/c/bank/{bank_name}")
    meta = '{"content_id": "c-1", "content_uri": "https://example.org/1", "json": {"k": 1}}'
    added = check(
        admin.post(
            f"/c/bank/{bank}/content",
            files={"photo": ("p.jpg", photo)},
            data={"note": "a note", "metadata": meta},
            params={"types": "pdq,video_md5,sha256"},
        ),
        "/c/bank/{bank_name}/content",
    ).json()
    check(
        admin.post(f"/c/bank/{bank}/content", files={"photo": ("o.jpg", other_photo)}),
        "/c/bank/{bank_name}/content",
    )
    check(
        admin.post(f"/c/bank/{allow}/content", params={"url": f"{origin}/photo.jpg"}),
        "/c/bank/{bank_name}/content",
    )
    check(
        admin.post(
            f"/c/bank/{bank}/content", files={"video": ("v.mp4", video)}, params={"types": "md5,vpdq"}
        ),
        "/c/bank/{bank_name}/content",
    )
    signal = check(
        admin.post(f"/c/bank/{bank}/signal", json={"md5": MD5, "vpdq": VPDQ}), "/c/bank/{bank_name}/signal"
    ).json()
    content = "/c/bank/{bank_name}/content/{content_id}"
    for params in ({}, {"include_signals": "true"}, {"include_metadata": "false"}, {"details": "true"}):
        check(admin.get(f"/c/bank/{bank}/content/{added['id']}", params=params), content)
    check(admin.get(f"/c/bank/{bank}/content/{signal['id']}", params={"include_signals": "true"}), content)
    check(admin.put(f"/c/bank/{bank}/content/{signal['id']}", json={"note": "n"}), content)
    check(admin.put(f"/c/bank/{bank}/content/{signal['id']}", json={"disable_until_ts": 1}), content)
    gone = check(
        admin.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ[:-4] + "0000"}), "/c/bank/{bank_name}/signal"
    )
    check(admin.delete(f"/c/bank/{bank}/content/{gone.json()['id']}"), content)
    check(admin.delete(f"/c/bank/{bank}/content/{gone.json()['id']}"), content)

    # --- hashing ---
    check(matcher.post("/h/hash", files={"photo": ("p.jpg", photo)}), "/h/hash")
    check(matcher.post("/h/hash", files={"video": ("v.mp4", video)}, params={"types": "md5,vpdq"}), "/h/hash")
    check(matcher.get("/h/hash", params={"url": f"{origin}/photo.jpg"}), "/h/hash")

    # --- matching (HMA) ---
    pdq = check(matcher.post("/h/hash", files={"photo": ("p.jpg", photo)}), "/h/hash").json()["pdq"]
    for params in (
        {"signal_type": "pdq", "signal": pdq},
        {"signal_type": "pdq", "signal": pdq, "include_distance": "true"},
        {"signal_type": "pdq", "signal": pdq, "include_distance": "yes"},  # not the fast path
        {"signal_type": "video_md5", "signal": MD5, "include_distance": "true"},
        {"signal_type": "vpdq", "signal": VPDQ},
        {"signal_type": "vpdq", "signal": VPDQ, "include_distance": "true"},
    ):
        check(matcher.get("/m/raw_lookup", params=params), "/m/raw_lookup")
    for params in (
        {"signal_type": "pdq", "signal": pdq},
        {"signal_type": "pdq", "signal": pdq, "include_metadata": "true"},
        {"signal_type": "pdq", "signal": pdq, "include_metadata": "on"},  # not the fast path
        {"signal_type": "vpdq", "signal": VPDQ, "include_metadata": "true"},
        {"url": f"{origin}/photo.jpg", "include_metadata": "true"},
        {"url": f"{origin}/photo.jpg", "signal_type": "pdq"},
        {"url": f"{origin}/video.mp4", "content_type": "video", "types": "md5,vpdq"},
        {"signal_type": "pdq", "signal": pdq, "seed": "s", "bypass_coinflip": "true"},
    ):
        check(matcher.get("/m/lookup", params=params), "/m/lookup")
    for files, params in (
        ({"photo": ("p.jpg", photo)}, {"include_metadata": "true", "types": "pdq,md5,sha256"}),
        ({"photo": ("p.jpg", other_photo)}, {"dihedral": "true"}),
        ({"video": ("v.mp4", video)}, {"types": "md5,vpdq", "include_metadata": "true"}),
    ):
        check(matcher.post("/m/lookup", files=files, params=params), "/m/lookup")
    for params in ({}, {"signal_type": "pdq"}, {"signal_type": "video_md5"}, {"signal_type": "vpdq"}):
        check(matcher.get("/m/index/status", params=params), "/m/index/status")
    check(
        matcher.post("/m/compare", json={"pdq": [pdq, PDQ], "video_md5": [MD5, MD5], "vpdq": [VPDQ, VPDQ]}),
        "/m/compare",
    )
    other_vpdq = VPDQ.replace("b4ad26b9", "4b52d946").replace("a4ad66b9", "5b529946")
    check(matcher.post("/m/compare", json={"vpdq": [VPDQ, other_vpdq]}), "/m/compare")

    # --- v1 ---
    batch = {"signal_type": "pdq", "hashes": [pdq, PDQ, "nothex"]}
    check(matcher.post("/v1/match/batch", json=batch), "/v1/match/batch")
    check(matcher.post("/v1/match/batch", json={"signal_type": "md5", "hashes": [MD5]}), "/v1/match/batch")
    check(matcher.post("/v1/match", json={"pdq": pdq, "md5": MD5}), "/v1/match")
    check(matcher.post("/v1/match", json={"vpdq": VPDQ}), "/v1/match")
    check(matcher.post("/v1/match", json={"url": f"{origin}/photo.jpg"}), "/v1/match")
    check(
        matcher.post("/v1/match", files={"photo": ("p.jpg", photo)}, params={"dihedral": "true"}), "/v1/match"
    )
    check(matcher.post("/v1/match", files={"photo": ("o.jpg", other_photo)}), "/v1/match")
    check(matcher.post("/v1/match", files={"video": ("v.mp4", video)}), "/v1/match")

    # --- keys ---
    created = check(admin.post("/v1/keys", json={"role": "matcher", "banks": [bank]}), "/v1/keys").json()
    check(admin.post("/v1/keys", json={"role": "curator", "name": "c"}), "/v1/keys")
    check(admin.get("/v1/keys"), "/v1/keys")
    check(admin.get(f"/v1/keys/{created['key_id']}"), "/v1/keys/{key_id}")
    check(admin.delete(f"/v1/keys/{created['key_id']}"), "/v1/keys/{key_id}")

    # --- the signed feed (role exchange, scoped to the banks offered) ---
    feeder = service.client(service.key(Role.EXCHANGE, banks=[bank]))
    check(feeder.get("/v1/feed/key"), "/v1/feed/key")
    check(feeder.get(f"/v1/feed/{bank}", params={"after": 0, "limit": 10}), "/v1/feed/{bank_name}")
    check(feeder.get("/v1/feed/NO_SUCH_BANK"), "/v1/feed/{bank_name}")

    # --- feedback: a platform's opinion of an entry; a mirror relaying its platforms' opinions ---
    fbk = "/v1/feedback"
    opinion = {"bank": bank, "content_id": signal["id"], "opinion": "positive", "note": "a true match"}
    check(matcher.post(fbk, json=opinion), fbk)
    check(matcher.post(fbk, json={"signal_type": "md5", "hash": MD5, "opinion": "investigation_seed"}), fbk)
    check(matcher.post(fbk, json={"bank": bank, "content_id": 999_999, "opinion": "negative"}), fbk)
    check(matcher.post(fbk, json={**opinion, "opinion": "maybe"}), fbk)
    relay = "/v1/feed/{bank_name}/feedback"
    item = {"key": f"md5:{MD5}", "giver": "key:x", "opinion": "negative"}
    items = [item, {**item, "key": "md5:" + "00" * 16}]
    check(feeder.post(f"/v1/feed/{bank}/feedback", json={"items": items}), relay)
    check(feeder.post("/v1/feed/NO_SUCH_BANK/feedback", json={"items": []}), relay)

    # --- held entries (review before matching; roles that manage banks) ---
    held, hold = "/v1/banks/{bank_name}/held", "/v1/banks/{bank_name}/hold"
    check(
        admin.post(f"/v1/banks/{bank}/hold", json={"content_ids": [signal["id"]], "reason": "disputed"}), hold
    )
    check(admin.get(f"/v1/banks/{bank}/held"), held)
    check(admin.get(f"/v1/banks/{bank}/held", params={"reason": "pending_review", "lapsed": "true"}), held)
    accept, reject = f"{held}/accept", f"{held}/reject"
    check(admin.post(f"/v1/banks/{bank}/held/accept", json={"content_ids": [signal["id"]]}), accept)
    check(admin.post(f"/v1/banks/{bank}/held/accept", json={"content_ids": [signal["id"]]}), accept)  # 409
    check(admin.post(f"/v1/banks/{bank}/held/reject", json={"all": True}), reject)
    check(admin.post(f"/v1/banks/{bank}/held/reject", json={"content_ids": [999_999]}), reject)  # 404
    check(admin.post(f"/v1/banks/{bank}/hold", json={"content_ids": [1], "reason": "spam"}), hold)  # 422
    check(admin.get("/v1/banks/NO_SUCH_BANK/held"), held)

    # --- configuration (HMA) ---
    check(admin.get("/c/signal_type"), "/c/signal_type")
    signal_type = "/c/signal_type/{signal_type_name}"
    check(admin.put("/c/signal_type/pdq", json={"enabled_ratio": 1.0}), signal_type)  # as it was
    check(admin.get("/c/signal_type/index"), "/c/signal_type/index")
    check(admin.get("/c/signal_type/index", params={"signal_type": "video_md5"}), "/c/signal_type/index")
    check(admin.get("/c/content_type"), "/c/content_type")
    check(admin.get("/site-map"), "/site-map")
    check(admin.get("/c/exchanges/apis"), "/c/exchanges/apis")
    exchange_api = "/c/exchanges/api/{api_name}"
    check(admin.get("/c/exchanges/api/sample"), exchange_api)
    tx = "/c/exchanges/api/fb_threatexchange"
    check(admin.post(tx, json={"credential_json": {"api_token": "t"}}), exchange_api)
    check(admin.post(tx, json={}), exchange_api)
    check(admin.post(tx, json={"credential_json": {}}), exchange_api)  # cleared
    for api in ("sample", "fb_threatexchange"):  # without and with credentials and settings
        check(admin.get(f"/c/exchanges/api/{api}/schema"), "/c/exchanges/api/{api_name}/schema")
    ex, ex_tx = (f"EX_{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    check(admin.post("/c/exchanges", json={"bank": ex, "api": "sample"}), "/c/exchanges")
    body = {"bank": ex_tx, "api": "fb_threatexchange", "api_json": {"privacy_group": 12, "enabled": False}}
    check(admin.post("/c/exchanges", json=body), "/c/exchanges")
    check(admin.get("/c/exchanges"), "/c/exchanges")
    exchange = "/c/exchange/{exchange_name}"
    check(admin.get(f"/c/exchange/{ex}"), exchange)
    check(admin.get(f"/c/exchange/{ex_tx}"), exchange)
    check(admin.get(f"/c/exchange/{ex}/status"), "/c/exchange/{exchange_name}/status")
    check(admin.put(f"/c/exchange/{ex_tx}", json={"enabled": True}), exchange)
    check(admin.put(f"/c/exchange/{ex}", json={}), exchange)
    check(admin.delete(f"/c/exchange/{ex}"), exchange)
    check(admin.delete(f"/c/exchange/{ex}"), exchange)  # HMA: also when there is none

    # --- errors: each family of error body ---
    anonymous = service.client()
    check(anonymous.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ}), "/m/raw_lookup")
    check(anonymous.post("/v1/match", json={"pdq": PDQ}), "/v1/match")
    check(service.client(service.key(Role.SUBMITTER)).get("/c/banks"), "/c/banks")
    check(matcher.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": "nothex"}), "/m/raw_lookup")
    check(matcher.get("/m/raw_lookup", params={"signal_type": "pdq"}), "/m/raw_lookup")  # HMA's 422 list
    check(admin.get(f"/c/bank/{bank}_NONE"), "/c/bank/{bank_name}")
    check(admin.get(f"/c/bank/{bank}/content/999999"), content)
    check(admin.post("/c/banks", json={"name": bank}), "/c/banks")  # HMA's 403 duplicate
    check(admin.post("/c/banks", json={"name": "lower"}), "/c/banks")
    check(matcher.post("/v1/match", json={"pdq": "nothex"}), "/v1/match")
    check(matcher.post("/v1/match/batch", json={"hashes": "x"}), "/v1/match/batch")
    check(admin.get("/v1/keys/nope"), "/v1/keys/{key_id}")
    check(admin.post("/v1/keys", json={"role": "nobody"}), "/v1/keys")
    # configuration
    check(matcher.get("/c/signal_type"), "/c/signal_type")
    check(admin.put("/c/signal_type/pdq", json={}), signal_type)
    check(admin.put("/c/signal_type/pdq", content=b"1"), signal_type)  # HMA's 415: not JSON
    check(admin.get("/c/signal_type/index", params={"signal_type": "tmk"}), "/c/signal_type/index")
    check(anonymous.get("/c/content_type"), "/c/content_type")
    check(matcher.get("/site-map"), "/site-map")
    check(matcher.get("/c/exchanges/apis"), "/c/exchanges/apis")
    check(admin.get("/c/exchanges/api/nope"), exchange_api)
    check(admin.post(tx, json=[1]), exchange_api)
    check(service.client(service.key(Role.CURATOR)).post(tx, json={}), exchange_api)  # admin only
    check(admin.get("/c/exchanges/api/nope/schema"), "/c/exchanges/api/{api_name}/schema")
    check(admin.post("/c/exchanges", json={"bank": ex_tx, "api": "sample"}), "/c/exchanges")  # taken
    scoped = service.client(service.key(Role.CURATOR, banks=[bank]))
    check(scoped.post("/c/exchanges", json={"bank": ex, "api": "sample"}), "/c/exchanges")  # 403
    check(anonymous.get("/c/exchanges"), "/c/exchanges")
    check(admin.get(f"/c/exchange/{ex}"), exchange)
    check(admin.get(f"/c/exchange/{ex}/status"), "/c/exchange/{exchange_name}/status")
    check(admin.put(f"/c/exchange/{ex_tx}", json={"enabled": 3}), exchange)
    check(admin.put(f"/c/exchange/{ex}", json={"enabled": True}), exchange)  # 404
    check(matcher.delete(f"/c/exchange/{ex_tx}"), exchange)


def test_every_response_matches_the_openapi_document(
    service: Service, origin: str, video: bytes, loopback_fetch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an exchange API with settings and credentials besides HMA's default (TAKEBACK_EXCHANGE_APIS)
    monkeypatch.setattr(service.settings, "exchange_apis", "sample,fb_threatexchange")
    doc = httpx.get(f"{service.url}/openapi.json", timeout=60).json()  # built on first request
    check = OpenApiChecker(doc)
    exercise(service, check, origin, video)
    assert _operations(doc) - check.seen == set(), "routes this test does not call (add them above)"


def test_the_check_fails_a_body_that_drifts() -> None:
    """The checker above is not vacuous: a body off its model, or an undeclared status, fails."""
    check = OpenApiChecker(create_app(Settings(database_url="sqlite://")).openapi())

    def answer(status: int, body: Any) -> httpx.Response:
        return httpx.Response(status, json=body, request=httpx.Request("GET", "http://t/m/raw_lookup"))

    check(answer(200, {"matches": [{"bank_content_id": 1, "distance": "3"}]}), "/m/raw_lookup")
    for status, body in (
        (200, {"matches": [{"bank_content_id": 1, "distance": 3}]}),  # distance is HMA's string
        (200, {"matches": [1], "extra": True}),  # a key the model does not have
        (200, {"hits": [1]}),  # a key renamed
        (400, {"code": "x", "message": "HMA errors are {message} only"}),
        (418, {"message": "a status the route does not declare"}),
    ):
        with pytest.raises(AssertionError):
            check(answer(status, body), "/m/raw_lookup")
