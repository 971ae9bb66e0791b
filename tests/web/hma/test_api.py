"""Twins of HMA's ``tests/test_api.py`` that HTTP can reach (the index-cache fakes and exchange
tests need in-process hooks or the federation routes: see docs/API.md)."""

from __future__ import annotations

import httpx

from tests.web.conftest import Service

S1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
S2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"


def test_status_response(fresh: Service) -> None:
    r = fresh.client().get("/status")
    assert (r.status_code, r.content) == (200, b"I-AM-ALIVE")


def test_status_live_always_alive(fresh: Service) -> None:
    r = fresh.client().get("/status/live")
    assert (r.status_code, r.content) == (200, b"I-AM-ALIVE")


def test_lookup_success(client: httpx.Client, images: dict[str, bytes]) -> None:
    jpeg = images["image1.jpg"]
    r = client.post("/m/lookup", files={"photo": ("image1.jpg", jpeg, "image/jpeg")})
    assert (r.status_code, r.json()) == (200, {"pdq": {}})
    r = client.post("/m/lookup", files={"video": ("image1.jpg", jpeg, "image/jpeg")})
    assert (r.status_code, r.json()) == (200, {"video_md5": {}})


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
