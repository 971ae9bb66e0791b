"""URL hashing through the service: off by default, allow-listed hosts only, private and metadata
addresses refused after DNS resolution and on redirects, content type from the bytes."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeback.net import fetch
from tests.web.conftest import Service

AAA_ORIG_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture(scope="module")
def origin(pdq_data: Path) -> Iterator[str]:
    """A local web server: /aaa.jpg, /page.html, and redirects to a metadata address and to the image."""
    image = (pdq_data / "bridge-mods" / "aaa-orig.jpg").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes = {
                "/aaa.jpg": (200, "image/jpeg", image),
                "/disguised.jpg": (200, "image/jpeg", b"<html><body>not an image</body></html>"),
            }
            if self.path == "/to-metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            if self.path == "/to-image":
                self.send_response(302)
                self.send_header("Location", "/aaa.jpg")
                self.end_headers()
                return
            status, ctype, body = routes.get(self.path, (404, "text/plain", b"no"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_hashing_is_off_by_default(service: Service, origin: str) -> None:
    c = service.client(service.admin)
    for r in (
        c.get("/h/hash", params={"url": f"{origin}/aaa.jpg"}),
        c.get("/m/lookup", params={"url": f"{origin}/aaa.jpg"}),
        c.post("/v1/match", json={"url": f"{origin}/aaa.jpg"}),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "url_fetch_disabled" and r.json()["field"] == "url"


def test_private_addresses_are_refused_even_when_allow_listed(
    service: Service, origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.settings, "url_allowlist", "127.0.0.1,localhost,169.254.169.254,10.0.0.1")
    c = service.client(service.admin)
    for url in (f"{origin}/aaa.jpg", "http://localhost/x.jpg", "http://169.254.169.254/latest/meta-data/"):
        r = c.get("/h/hash", params={"url": url})
        assert r.status_code == 403, (url, r.text)
        assert r.json()["code"] == "blocked_address"
    r = c.get("/h/hash", params={"url": "http://example.org/a.jpg"})
    assert r.status_code == 403 and r.json()["code"] == "host_not_allowed"
    r = c.get("/h/hash", params={"url": "file:///etc/passwd"})
    assert r.status_code == 400 and set(r.json()) == {"message"}, r.text  # HMA's invalid URL


def test_url_hashing_end_to_end(service: Service, origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test origin is on loopback, which the fetcher refuses; let loopback through for this test
    # only (every other private range stays blocked, which the redirect case below relies on).
    real_policy = fetch.FetchPolicy
    monkeypatch.setattr(
        fetch, "FetchPolicy", lambda **kw: dataclasses.replace(real_policy(**kw), allow_loopback=True)
    )
    monkeypatch.setattr(service.settings, "url_allowlist", "127.0.0.1")
    c = service.client(service.admin)
    r = c.get("/h/hash", params={"url": f"{origin}/aaa.jpg"})
    assert r.status_code == 200, r.text
    assert r.json()["pdq"] == AAA_ORIG_PDQ
    assert c.get("/h/hash", params={"url": f"{origin}/to-image"}).json()["pdq"] == AAA_ORIG_PDQ

    bank = service.bank("urls")
    r = c.post(
        f"/c/bank/{bank}/content",
        params={"url": f"{origin}/aaa.jpg", "content_type": "photo"},
        json={"metadata": {"content_id": "1197433091", "json": {"asdf": {}}}},
    )
    assert r.status_code == 200, r.text
    content_id = r.json()["id"]
    shown = c.get(f"/c/bank/{bank}/content/{content_id}").json()
    assert shown["metadata"]["content_id"] == "1197433091" and "source" not in shown  # HMA has no source
    r = c.get("/m/lookup", params={"url": f"{origin}/aaa.jpg", "banks": bank})
    assert r.json()["pdq"] == {bank: [{"bank_content_id": content_id, "distance": "0"}]}
    r = c.get("/m/lookup", params={"url": f"{origin}/aaa.jpg", "signal_type": "pdq", "banks": bank})
    assert r.json() == {bank: [{"bank_content_id": content_id, "distance": "0"}]}
    r = c.post("/v1/match", json={"url": f"{origin}/aaa.jpg", "banks": [bank]})
    assert r.json()["status"] == "match"

    # a redirect to the cloud metadata address is refused at connect time
    r = c.get("/h/hash", params={"url": f"{origin}/to-metadata"})
    assert r.status_code == 403 and r.json()["code"] in ("blocked_address", "host_not_allowed")
    # the server says image/jpeg; the bytes say HTML
    r = c.get("/h/hash", params={"url": f"{origin}/disguised.jpg"})
    assert r.status_code == 415 and "text/plain" in r.json()["message"]
    r = c.get("/h/hash", params={"url": f"{origin}/missing.jpg"})
    assert r.status_code == 400 and r.json()["message"].startswith("Failed to fetch URL: "), r.text  # HMA's
    r = c.post("/v1/match", json={"url": f"{origin}/missing.jpg"})
    assert r.status_code == 502 and r.json()["code"] == "http_error"
