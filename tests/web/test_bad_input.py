"""Bad input over HTTP: 413, 415, 422 with the decoder's code or the field's name, 404, per-item errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
JPEG = encode(synthetic_photo(320, 240, seed=9))


def test_oversized_uploads_are_413(service: Service) -> None:
    c = service.client(service.admin)
    limit = service.settings.max_upload_bytes
    big = b"\xff\xd8\xff" + b"\0" * limit
    r = c.post("/h/hash", files={"photo": ("big.jpg", big)})  # declared Content-Length
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\n'
        for _ in range(limit // 65536 + 2):
            yield b"\0" * 65536

    r = c.post("/h/hash", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    # the service is fine afterwards
    assert c.post("/h/hash", files={"photo": ("a.jpg", JPEG)}).status_code == 200


def test_a_body_that_stops_arriving_is_408(service: Service) -> None:
    import socket

    port = int(service.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST /h/hash HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {service.admin}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000\r\n\r\n--x\r\n".encode()
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b"request_timeout" in reply


def hma_error(r: httpx.Response, status: int) -> str:
    """An error in HMA's shape on an HMA route: HMA's status and only ``{"message"}``."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"message"}, body
    return str(body["message"])


def test_content_type_is_read_from_the_bytes(service: Service) -> None:
    c = service.client(service.admin)
    pdf = b"%PDF-1.7\n" + b"x" * 500
    # takeback's own route names the code and the field
    r = c.post("/v1/match", files={"photo": ("looks.jpg", pdf, "image/jpeg")})
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_media_type" and "application/pdf" in r.json()["message"]
    r = c.post("/v1/match", files={"video": ("clip.mp4", JPEG, "video/mp4")})
    assert r.status_code == 415 and r.json()["field"] == "video"
    r = c.post("/v1/match", files={"document": ("a.jpg", JPEG)})
    assert r.status_code == 422 and r.json()["field"] == "document"
    r = c.post("/v1/match", files=[("photo", ("a.jpg", JPEG)), ("photo", ("b.jpg", JPEG))])
    assert r.status_code == 422 and "one file" in r.json()["message"]
    # HMA's routes answer as HMA: the bytes decide, the field only chooses the signal types
    assert "application/pdf" in hma_error(
        c.post("/h/hash", files={"photo": ("looks.jpg", pdf, "image/jpeg")}), 415
    )
    assert set(c.post("/h/hash", files={"video": ("clip.mp4", JPEG, "video/mp4")}).json()) == {"video_md5"}
    hma_error(c.post("/h/hash", content=JPEG, headers={"Content-Type": "image/jpeg"}), 400)
    assert "document" in hma_error(c.post("/h/hash", files={"document": ("a.jpg", JPEG)}), 400)
    two = [("photo", ("a.jpg", JPEG)), ("photo", ("b.jpg", JPEG))]
    assert "one file" in hma_error(c.post("/h/hash", files=two), 400)


def test_corrupt_images_are_refused_with_the_decoder_code(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("bad")
    cases = {
        "truncated_image": JPEG[: len(JPEG) // 2],
        "corrupt_image": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "empty_file": b"",
    }
    for code, data in cases.items():
        # HMA's routes: 400 {"message"}; takeback's: 422 with the decoder's code
        for path in ("/h/hash", "/m/lookup", f"/c/bank/{bank}/content"):
            assert hma_error(c.post(path, files={"photo": ("x.jpg", data)}), 400), (path, code)
        r = c.post("/v1/match", files={"photo": ("x.jpg", data)})
        assert r.status_code == 422, (code, r.text)
        assert r.json()["code"] == code, r.json()
    assert service.entries(bank) == 0


def test_malformed_hashes_are_refused_naming_the_field(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("hashes")
    hma = [  # HMA's routes: 400 {"message"} naming what was wrong
        (c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": "xyz"}), "signal"),
        (c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ + "00"}), "signal"),
        (c.get("/m/raw_lookup", params={"signal_type": "tmk", "signal": PDQ}), "SignalType"),
        (c.get("/m/lookup", params={"signal_type": "md5", "signal": PDQ}), "signal"),
        (c.post("/m/compare", json={"pdq": [PDQ, "nothex" * 8]}), "pdq"),
        (c.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ[:-1]}), "pdq"),
        (c.post(f"/c/bank/{bank}/signal", json={"sha1": PDQ}), "sha1"),
        (c.get("/m/index/status", params={"signal_type": "nope"}), "signal type"),
    ]
    for r, word in hma:
        assert word in hma_error(r, 400), (word, r.text)
    # a missing typed parameter is HMA's 422 list of pydantic errors
    r = c.get("/m/raw_lookup", params={"signal_type": "pdq"})
    assert r.status_code == 422 and r.json()[0]["loc"] == ["signal"], r.text
    ours = [  # takeback's routes: 422 with the field
        (c.post("/v1/match", json={"md5": "g" * 32}), "md5"),
        (c.post("/v1/match/batch", json={"hashes": [PDQ] * 10_001}), "hashes"),
        (c.post("/v1/match/batch", json={"hashes": "not a list"}), "hashes"),
    ]
    for r, field in ours:
        assert r.status_code == 422, (field, r.status_code, r.text)
        assert r.json()["field"] == field, r.json()
        assert field.split("[")[0] in r.json()["message"]
    # upper case is fine: hashes are normalised
    assert c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ.upper()}).status_code == 200


def test_a_bad_hash_in_a_batch_is_an_item_error(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("batch")
    content_id = c.post(f"/c/bank/{bank}/signal", json={"pdq": PDQ, "note": "seen"}).json()["id"]
    near = PDQ[:-1] + ("0" if PDQ[-1] != "0" else "1")
    r = c.post("/v1/match/batch", json={"hashes": [PDQ, "bad", near, "0" * 64], "banks": [bank]})
    assert r.status_code == 200
    body = r.json()
    assert (body["count"], body["matched"], body["errors"]) == (4, 2, 1)
    first, bad, second, none = body["results"]
    assert first["status"] == "match" and first["matches"][0]["content_id"] == content_id
    assert first["matches"][0]["note"] == "seen" and first["matches"][0]["threshold"] == 31
    assert bad == {"status": "error", "error": bad["error"], "matches": []}
    assert bad["error"]["code"] == "invalid_signal" and "hashes[1]" in bad["error"]["message"]
    assert second["matches"][0]["distance"] >= 1
    assert none == {"status": "no_match", "matches": []}


def test_unknown_banks_are_404(service: Service) -> None:
    c = service.client(service.admin)
    for method, path, kw in [
        ("GET", "/c/bank/NOBANK", {}),
        ("PUT", "/c/bank/NOBANK", {"json": {"pdq_threshold": 3}}),
        ("POST", "/c/bank/NOBANK/content", {"files": {"photo": ("a.jpg", JPEG)}}),
        ("POST", "/c/bank/NOBANK/signal", {"json": {"pdq": PDQ}}),
        ("GET", "/c/bank/NOBANK/content/1", {}),
        ("PUT", "/c/bank/NOBANK/content/1", {"json": {"disable_until_ts": 1}}),
        ("DELETE", "/c/bank/NOBANK/content/1", {}),
    ]:
        hma_error(c.request(method, path, **kw), 404)
    # as in HMA: deleting a bank that is not there is done, and looking up in one matches nothing
    assert c.delete("/c/bank/NOBANK").status_code == 200
    r = c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ, "banks": "NOBANK"})
    assert (r.status_code, r.json()) == (200, {"matches": []})
    r = c.post("/v1/match/batch", json={"hashes": [PDQ], "banks": ["NOBANK"]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bank"
    bank = service.bank("nocontent")
    assert "999999" in hma_error(c.get(f"/c/bank/{bank}/content/999999"), 404)
    assert c.get("/no/such/route").status_code == 404


def test_validation_of_bank_fields(service: Service) -> None:
    c = service.client(service.admin)
    for body, word in [
        ({"name": "bad name!"}, "UPPER_WITH_UNDERSCORE"),
        ({"name": "OK_NAME", "pdq_threshold": 500}, "threshold"),
    ]:
        assert word in hma_error(c.post("/c/banks", json=body), 400), body
    r = c.post("/c/banks", json={})  # HMA's body model: a 422 list
    assert r.status_code == 422 and r.json()[0]["loc"] == ["name"], r.text
    assert c.get("/c/bank/OK_NAME").status_code == 404
