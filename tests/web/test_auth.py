"""Keys over real HTTP: 401 without or with a bad key, 403 outside a role, revocation, expiry, 429."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from takeback.auth import Role
from takeback.store import AuditEvent
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
COMPARE = {"pdq": [PDQ, PDQ]}


def test_unauthenticated_routes_are_only_status(service: Service) -> None:
    anon = service.client()
    assert anon.get("/status/live").status_code == 200
    assert anon.get("/status").status_code in (200, 503)
    r = anon.post("/m/compare", json=COMPARE)
    assert r.status_code == 401
    assert r.json()["code"] == "missing_key"
    assert r.headers["www-authenticate"] == "Bearer"
    paths = anon.get("/openapi.json").json()["paths"]
    for path, ops in paths.items():
        if path.startswith("/status"):
            continue
        for method in ops:
            concrete = path.replace("{bank_name}", "x").replace("{content_id}", "1").replace("{key_id}", "x")
            resp = anon.request(method.upper(), concrete)
            assert resp.status_code == 401, (method, path, resp.status_code, resp.text)


def test_bad_keys_are_401(service: Service) -> None:
    for token in (
        "nonsense",
        "tbk_aaaaaaaaaaaa_" + "A" * 43,
        service.admin[:-1] + ("B" if service.admin[-1] != "B" else "C"),
    ):
        r = service.client(token).post("/m/compare", json=COMPARE)
        assert r.status_code == 401, token
        assert r.json()["code"] == "invalid_key"
    r = service.client().post("/m/compare", json=COMPARE, headers={"X-API-Key": service.admin})
    assert r.status_code == 200


def test_roles(service: Service) -> None:
    matcher = service.client(service.key(Role.MATCHER))
    submitter = service.client(service.key(Role.SUBMITTER))
    curator = service.client(service.key(Role.CURATOR))
    assert matcher.post("/m/compare", json=COMPARE).json() == {"pdq": [True, {"distance": 0}]}
    assert curator.post("/m/compare", json=COMPARE).status_code == 200
    r = submitter.post("/m/compare", json=COMPARE)
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    for c in (matcher, submitter, curator):
        assert c.get("/v1/keys").status_code == 403
        assert c.post("/v1/keys", json={"role": "admin"}).status_code == 403


def test_key_lifecycle_over_http(service: Service) -> None:
    admin = service.client(service.admin)
    r = admin.post("/v1/keys", json={"role": "matcher", "name": "platform-a", "rate_limit": 0})
    assert r.status_code == 201, r.text
    body = r.json()
    token, key_id = body["key"], body["key_id"]
    assert token.startswith(f"tbk_{key_id}_")
    assert body["role"] == "matcher" and body["banks"] is None and body["status"] == "active"
    listed = admin.get("/v1/keys").json()["keys"]
    entry = next(k for k in listed if k["key_id"] == key_id)
    assert "key" not in entry and token not in str(listed)
    user = service.client(token)
    assert user.post("/m/compare", json=COMPARE).status_code == 200
    r = admin.delete(f"/v1/keys/{key_id}")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    # revoked at once in the worker that revoked it
    r = user.post("/m/compare", json=COMPARE)
    assert r.status_code == 401 and r.json()["code"] == "key_revoked"
    assert admin.delete("/v1/keys/nosuchkeyid1").status_code == 404
    with service.db.session() as s:
        rows = s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.object_id)).all()
    admin_id = service.admin.split("_")[1]
    assert (f"key:{admin_id}", "key.create", key_id) in rows
    assert (f"key:{admin_id}", "key.revoke", key_id) in rows
    assert not any(token in str(r) or service.admin in str(r) for r in rows)


def test_revocation_by_cli_reaches_the_server_within_the_cache_time(service: Service) -> None:
    from takeback.auth import revoke_key

    token = service.key(Role.MATCHER)
    user = service.client(token)
    assert user.post("/m/compare", json=COMPARE).status_code == 200
    with service.db.session() as s:
        revoke_key(s, key_id=token, actor="test")
    deadline = time.monotonic() + service.settings.api_key_cache_seconds + 2
    while user.post("/m/compare", json=COMPARE).status_code == 200:
        assert time.monotonic() < deadline, "revocation never took effect"
        time.sleep(0.05)
    assert user.post("/m/compare", json=COMPARE).json()["code"] == "key_revoked"


def test_expired_key(service: Service) -> None:
    token = service.key(Role.MATCHER, expires_at=datetime.now(UTC) + timedelta(seconds=1))
    user = service.client(token)
    assert user.post("/m/compare", json=COMPARE).status_code == 200
    time.sleep(1.1)
    r = user.post("/m/compare", json=COMPARE)
    assert r.status_code == 401 and r.json()["code"] == "key_expired"


def test_rate_limit_gives_429_with_retry_after(service: Service) -> None:
    user = service.client(service.key(Role.MATCHER, rate_limit=2))
    codes = [user.post("/m/compare", json=COMPARE) for _ in range(8)]
    assert [c.status_code for c in codes[:4]] == [200] * 4  # burst: 2 s of traffic
    limited = [c for c in codes if c.status_code == 429]
    assert limited, [c.status_code for c in codes]
    assert limited[0].json()["code"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1
    time.sleep(int(limited[0].headers["retry-after"]))
    assert user.post("/m/compare", json=COMPARE).status_code == 200


def test_admin_keys_cannot_be_bank_scoped(service: Service) -> None:
    bank = service.bank()
    r = service.client(service.admin).post("/v1/keys", json={"role": "admin", "banks": [bank]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_scope" and r.json()["field"] == "banks"
    r = service.client(service.admin).post("/v1/keys", json={"role": "matcher", "banks": ["no-such-bank"]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bank"
