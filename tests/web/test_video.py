"""Videos over HTTP, on SQLite and PostgreSQL: adding a video to a bank (upload or URL) stores its
vPDQ exactly as ``takeback bank add`` does; hashing returns it; every lookup route matches videos
(copies, clips) and answers in HMA's shape with a ``vpdq`` block; ``/v1/match`` explains; scopes,
allow-lists and the audit log apply as for photos."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from takeback.auth import Role
from takeback.net import fetch
from takeback.signals.vpdq import VpdqOptions, pack_result, unpack_result, vpdq_from_video
from tests.video.conftest import cut_clip
from tests.web.conftest import Service


@dataclass(frozen=True)
class Videos:
    banked: Path  # pattern-sd-grey-bar: SD with grey bars (1 MB, under the test server's 2 MiB limit)
    hd_copy: Path  # the HD original without bars, re-encoded smaller: matches only through the border
    clip: Path  # 3 s cut from the banked video, resized and re-encoded
    other: Path  # doorknob-hd-no-bar: an unrelated video
    stored: bytes  # what ``bank add`` stores for ``banked`` (every distinct frame)


@pytest.fixture(scope="module")
def videos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Videos:
    src = shared_data / "video"
    tmp = tmp_path_factory.mktemp("videos")
    hd = cut_clip(
        src / "pattern-hd-no-bar.mp4", tmp / "hd.mp4", start=0, seconds=8, width=640, height=360, crf=32
    )
    clip = cut_clip(
        src / "pattern-sd-grey-bar.mp4", tmp / "clip.mp4", start=2.0, seconds=3, width=320, height=240, crf=30
    )
    banked = src / "pattern-sd-grey-bar.mp4"
    stored = pack_result(vpdq_from_video(banked, options=VpdqOptions(interval=0.0)))
    return Videos(banked, hd, clip, src / "doorknob-hd-no-bar.mp4", stored)


@pytest.fixture(scope="module")
def origin(videos: Videos) -> Iterator[str]:
    """A local web server for URL hashing: /banked.mp4 and /hd.mp4."""
    files = {"/banked.mp4": videos.banked.read_bytes(), "/hd.mp4": videos.hd_copy.read_bytes()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def loopback_fetch(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the fetcher reach the loopback test origin (every other private range stays blocked)."""
    real_policy = fetch.FetchPolicy
    monkeypatch.setattr(
        fetch, "FetchPolicy", lambda **kw: dataclasses.replace(real_policy(**kw), allow_loopback=True)
    )
    monkeypatch.setattr(service.settings, "url_allowlist", "127.0.0.1")


def upload(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"video": (path.name, path.read_bytes(), "video/mp4")}


def test_adding_a_video_stores_every_frame_like_bank_add(
    service: Service, videos: Videos, origin: str, loopback_fetch: None
) -> None:
    c = service.client(service.admin)
    bank = service.bank("videos")
    r = c.post(f"/c/bank/{bank}/content", files=upload(videos.banked), data={"note": "reported"})
    assert r.status_code == 201, r.text
    added = r.json()
    assert set(added["signals"]) == {"md5", "sha256", "vpdq"}  # a video has no single PDQ
    assert added["signals"]["vpdq"] == videos.stored.hex()
    frames, cropped, duration = unpack_result(videos.stored)
    assert len(frames) > 100 and len(cropped) == len(frames) and duration == pytest.approx(6.867, abs=0.05)
    shown = c.get(f"/c/bank/{bank}/content/{added['id']}", params={"include_signals": True}).json()
    assert shown["signals"]["vpdq"] == videos.stored.hex() and shown["note"] == "reported"
    # By URL: the same fingerprint, so the same entry (nothing is added twice).
    r = c.post(f"/c/bank/{bank}/content", params={"url": f"{origin}/banked.mp4", "content_type": "video"})
    assert r.status_code == 200 and r.json()["duplicate_of"] == added["id"], r.text
    # types= stores only what is asked for; a vpdq-only entry of another video is new.
    other = service.bank("videos-only")
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "vpdq"})
    assert r.status_code == 201 and list(r.json()["signals"]) == ["vpdq"], r.text
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "pdq"})
    assert r.status_code == 422 and r.json()["code"] == "no_signals", r.text
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "tmk"})
    assert r.status_code == 422 and "vpdq" in r.json()["message"]


def test_hashing_a_video_returns_its_vpdq(service: Service, videos: Videos) -> None:
    c = service.client(service.key(Role.MATCHER))
    r = c.post("/h/hash", files=upload(videos.hd_copy))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"md5", "sha256", "vpdq"}
    frames, _, duration = unpack_result(bytes.fromhex(body["vpdq"]))
    assert 5 <= len(frames) <= 14 and duration == pytest.approx(6.87, abs=0.1)  # ~1 frame/s: a query
    assert c.post("/h/hash", files=upload(videos.hd_copy), params={"types": "vpdq"}).json() == {
        "vpdq": body["vpdq"]
    }
    # A photo sent as a video is refused by its bytes.
    r = c.post("/h/hash", files={"video": ("x.mp4", b"\x89PNG\r\n\x1a\n" + bytes(64), "video/mp4")})
    assert r.status_code == 415 and r.json()["field"] == "video"
