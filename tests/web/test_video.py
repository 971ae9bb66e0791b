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
from sqlalchemy import select

from takeback.auth import Role
from takeback.banks.service import get_bank
from takeback.net import fetch
from takeback.signals.vpdq import VpdqOptions, pack_result, unpack_result, vpdq_from_video
from takeback.store import AuditEvent
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


#: takeback's video signals, asked for by name: HMA's default for a video is its MD5 alone
VIDEO_TYPES = {"types": "md5,sha256,vpdq"}


def upload(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"video": (path.name, path.read_bytes(), "video/mp4")}


def test_adding_a_video_stores_every_frame_like_bank_add(
    service: Service, videos: Videos, origin: str, loopback_fetch: None
) -> None:
    c = service.client(service.admin)
    bank = service.bank("videos")
    r = c.post(
        f"/c/bank/{bank}/content", files=upload(videos.banked), params=VIDEO_TYPES, data={"note": "reported"}
    )
    assert r.status_code == 200, r.text
    added = r.json()
    assert set(added["signals"]) == {"video_md5", "sha256", "vpdq"}  # a video has no single PDQ
    assert added["signals"]["vpdq"] == videos.stored.hex()
    frames, cropped, duration = unpack_result(videos.stored)
    assert len(frames) > 100 and len(cropped) == len(frames) and duration == pytest.approx(6.867, abs=0.05)
    shown = c.get(f"/c/bank/{bank}/content/{added['id']}", params={"include_signals": True}).json()
    assert shown["signals"]["vpdq"] == videos.stored.hex() and shown["note"] == "reported"
    # By URL: the same fingerprint, added again as a second entry (as HMA does; the CLI skips it).
    r = c.post(f"/c/bank/{bank}/content", params={"url": f"{origin}/banked.mp4", "content_type": "video"})
    assert r.status_code == 200 and r.json()["id"] != added["id"], r.text
    assert r.json()["signals"] == {"video_md5": added["signals"]["video_md5"]}  # HMA's default types
    # types= stores only what is asked for; a vpdq-only entry of another video is new.
    other = service.bank("videos-only")
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "vpdq"})
    assert r.status_code == 200 and list(r.json()["signals"]) == ["vpdq"], r.text
    # HMA's default for a video: its MD5 alone
    r = c.post(f"/c/bank/{service.bank('md5-only')}/content", files=upload(videos.banked))
    assert r.status_code == 200 and list(r.json()["signals"]) == ["video_md5"], r.text
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "pdq"})
    assert (r.status_code, r.json()) == (400, {"message": "No signals given"}), r.text
    r = c.post(f"/c/bank/{other}/content", files=upload(videos.banked), params={"types": "tmk"})
    assert r.status_code == 400 and "tmk" in r.json()["message"], r.text


def test_hashing_a_video_returns_its_vpdq(service: Service, videos: Videos) -> None:
    c = service.client(service.key(Role.MATCHER))
    assert set(c.post("/h/hash", files=upload(videos.hd_copy)).json()) == {"video_md5"}  # HMA's default
    r = c.post("/h/hash", files=upload(videos.hd_copy), params=VIDEO_TYPES)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"video_md5", "sha256", "vpdq"}
    frames, _, duration = unpack_result(bytes.fromhex(body["vpdq"]))
    assert 5 <= len(frames) <= 14 and duration == pytest.approx(6.87, abs=0.1)  # ~1 frame/s: a query
    assert c.post("/h/hash", files=upload(videos.hd_copy), params={"types": "vpdq"}).json() == {
        "vpdq": body["vpdq"]
    }
    # A photo sent as a video is refused by its bytes (on takeback's route; HMA's hashes its MD5).
    r = c.post("/v1/match", files={"video": ("x.mp4", b"\x89PNG\r\n\x1a\n" + bytes(64), "video/mp4")})
    assert r.status_code == 415 and r.json()["field"] == "video"


def test_video_lookups_answer_in_hmas_shape_with_a_vpdq_block(
    service: Service, videos: Videos, origin: str, loopback_fetch: None
) -> None:
    admin = service.client(service.admin)
    bank = service.bank("known-videos")
    content_id = admin.post(
        f"/c/bank/{bank}/content", files=upload(videos.banked), params=VIDEO_TYPES
    ).json()["id"]
    c = service.client(service.key(Role.MATCHER))

    # The HD copy (other bytes, no bars) matches through the banked video's border-cropped frames.
    r = c.post("/m/lookup", files=upload(videos.hd_copy), params={**VIDEO_TYPES, "banks": bank})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["video_md5"] == {} and body["sha256"] == {} and "pdq" not in body
    (hit,) = body["vpdq"][bank]
    assert hit["bank_content_id"] == content_id and hit["kind"] == "match"
    assert hit["query_match_percent"] >= 90 and hit["compared_match_percent"] >= 80
    assert hit["distance"] == str(100 - int(min(hit["query_match_percent"], hit["compared_match_percent"])))
    # A 3-second clip is a clip: all of its frames, part of the banked video's time.
    (clip,) = c.post("/m/lookup", files=upload(videos.clip), params={**VIDEO_TYPES, "banks": bank}).json()[
        "vpdq"
    ][bank]
    assert (
        clip["kind"] == "clip" and clip["query_match_percent"] >= 90 and clip["compared_match_percent"] < 80
    )
    # An unrelated video, and a lookup limited to other types.
    assert (
        c.post("/m/lookup", files=upload(videos.other), params={**VIDEO_TYPES, "banks": bank}).json()["vpdq"]
        == {}
    )
    assert "vpdq" not in c.post("/m/lookup", files=upload(videos.hd_copy), params={"types": "md5"}).json()
    r = c.post(
        "/m/lookup",
        files=upload(videos.hd_copy),
        params={**VIDEO_TYPES, "banks": bank, "include_metadata": True},
    )
    assert r.json()["vpdq"][bank][0]["metadata"] == {}

    # By URL, and by value (what /h/hash returned).
    r = c.get("/m/lookup", params={**VIDEO_TYPES, "url": f"{origin}/hd.mp4", "banks": bank})
    assert [e["bank_content_id"] for e in r.json()["vpdq"][bank]] == [content_id], r.text
    r = c.get(
        "/m/lookup", params={**VIDEO_TYPES, "url": f"{origin}/hd.mp4", "banks": bank, "signal_type": "vpdq"}
    )
    assert [e["kind"] for e in r.json()[bank]] == ["match"]
    value = c.post("/h/hash", files=upload(videos.hd_copy), params={"types": "vpdq"}).json()["vpdq"]
    r = c.get("/m/lookup", params={"signal_type": "vpdq", "signal": value, "banks": bank})
    assert [e["bank_content_id"] for e in r.json()[bank]] == [content_id], r.text
    r = c.get("/m/raw_lookup", params={"signal_type": "vpdq", "signal": value})
    assert content_id in r.json()["matches"]
    r = c.get("/m/raw_lookup", params={"signal_type": "vpdq", "signal": value[:-2]})
    assert r.status_code == 400 and "signal" in r.json()["message"], r.text
    banked_value = admin.get(f"/c/bank/{bank}/content/{content_id}", params={"include_signals": True})
    stored = banked_value.json()["signals"]["vpdq"]
    r = c.post("/m/compare", json={"vpdq": [value, stored]})  # the query first, as in a lookup
    (matched, info) = r.json()["vpdq"]
    assert matched is True and info["kind"] == "match" and info["query_match_percent"] >= 90, r.text
    (matched, info) = c.post("/m/compare", json={"vpdq": [stored, value]}).json()["vpdq"]
    assert matched is True and info["kind"] == "contains"  # every banked frame vs ~1 a second
    other = c.post("/h/hash", files=upload(videos.other), params={"types": "vpdq"}).json()["vpdq"]
    assert c.post("/m/compare", json={"vpdq": [other, stored]}).json()["vpdq"] == [
        False,
        {"distance": 100, "query_match_percent": 0.0, "compared_match_percent": 0.0, "kind": None},
    ]
    status = c.get("/m/index/status", params={"signal_type": "vpdq"}).json()["vpdq"]
    assert status["size"] >= 1 and status["built_to"] > 0


def test_v1_match_explains_video_matches(service: Service, videos: Videos) -> None:
    admin = service.client(service.admin)
    bank = service.bank("v1-videos")
    content_id = admin.post(
        f"/c/bank/{bank}/content", files=upload(videos.banked), params=VIDEO_TYPES, data={"note": "case 7"}
    ).json()["id"]
    c = service.client(service.key(Role.MATCHER))
    r = c.post("/v1/match", files=upload(videos.clip), params={"banks": bank})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "match" and body["matches"] == []  # no hash matched: the video did
    video = body["video"]
    assert (
        video["status"] == "clip"
        and video["frames"] >= 2
        and video["duration_s"] == pytest.approx(3, abs=0.2)
    )
    (m,) = video["matches"]
    assert m["content_id"] == content_id and m["bank"] == bank and m["kind"] == "clip"
    assert m["note"] == "case 7" and m["threshold"] == 31 and m["suppressed_by"] is None
    assert 1.5 <= m["video_span"][0] <= 2.5  # the clip was cut from 2 s in
    assert "of the query's frames" in m["explanation"] and bank in m["explanation"]
    # The same by value.
    value = c.post("/h/hash", files=upload(videos.clip), params={"types": "vpdq"}).json()["vpdq"]
    body = c.post("/v1/match", json={"vpdq": value, "banks": [bank]}).json()
    assert body["status"] == "match" and body["video"]["matches"][0]["content_id"] == content_id
    body = c.post("/v1/match", files=upload(videos.other), params={"banks": bank}).json()
    assert body["status"] == "no_match" and body["video"] == {
        "status": "no_match",
        "frames": body["video"]["frames"],
        "duration_s": body["video"]["duration_s"],
        "matches": [],
    }
    r = c.post("/v1/match/batch", json={"signal_type": "vpdq", "hashes": [value]})
    assert r.status_code == 422 and r.json()["field"] == "signal_type"


def test_video_matches_follow_scope_allow_lists_and_are_audited(service: Service, videos: Videos) -> None:
    admin = service.client(service.admin)
    bank = service.bank("scoped-videos")
    other = service.bank("elsewhere")
    content_id = admin.post(
        f"/c/bank/{bank}/content", files=upload(videos.banked), params=VIDEO_TYPES
    ).json()["id"]
    # A key limited to another bank sees nothing of this one, and naming it reads as an unknown bank.
    scoped = service.client(service.key(Role.MATCHER, banks=[other]))
    assert scoped.post("/m/lookup", files=upload(videos.hd_copy), params=VIDEO_TYPES).json()["vpdq"] == {}
    r = scoped.post("/m/lookup", files=upload(videos.hd_copy), params={**VIDEO_TYPES, "banks": bank})
    unknown = scoped.post(
        "/m/lookup", files=upload(videos.hd_copy), params={**VIDEO_TYPES, "banks": "NO_SUCH"}
    )
    assert r.status_code == 200 and r.json() == unknown.json() and r.json()["vpdq"] == {}, r.text
    r = scoped.post("/v1/match", files=upload(videos.hd_copy), params={"banks": bank})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bank"
    # A matched video lookup is audited under the key, with no hashes in the row.
    token = service.key(Role.MATCHER)
    c = service.client(token)
    assert c.post("/m/lookup", files=upload(videos.hd_copy), params={**VIDEO_TYPES, "banks": bank}).json()[
        "vpdq"
    ][bank]
    key_id = token.split("_")[1]
    with service.db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.actor == f"key:{key_id}")).all()
        banked_in = get_bank(s, name=bank).id
    (row,) = rows
    assert row.action == "lookup.match" and row.details["route"] == "lookup_upload"
    ((_, bank_id, cid, signal_type, distance, acted),) = row.details["matches"]
    assert (bank_id, cid, signal_type, acted) == (banked_in, content_id, "vpdq", True) and 0 <= distance <= 20
    # An allow-listed copy suppresses the match: gone from HMA routes, explained by /v1.
    benign = service.bank("benign-videos", allow_list=True)
    benign_id = admin.post(
        f"/c/bank/{benign}/content", files=upload(videos.banked), params=VIDEO_TYPES
    ).json()["id"]
    assert (
        c.post("/m/lookup", files=upload(videos.hd_copy), params={**VIDEO_TYPES, "banks": bank}).json()[
            "vpdq"
        ]
        == {}
    )
    body = c.post("/v1/match", files=upload(videos.hd_copy), params={"banks": bank}).json()
    assert body["status"] == "allow_listed" and body["video"]["status"] == "allow_listed"
    blocked = [m for m in body["video"]["matches"] if m["bank"] == bank]
    assert blocked[0]["suppressed_by"] == {"bank": benign, "content_id": benign_id}
