"""Re-checking reported posts against a small site on loopback, on SQLite and PostgreSQL.

The site is reached as ``site.test`` through ``resolve_as_public`` (the fetcher's test-only DNS
stand-in): the production policy and its address checks run unchanged; a URL naming 127.0.0.1
directly is refused as in production.
"""

from __future__ import annotations

import http.server
import struct
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from takeback.cases import service as cs
from takeback.cases.models import Purpose, Takedown
from takeback.evidence import service as ev
from takeback.evidence.custody import SqlCustodyStore
from takeback.evidence.signing import Signer
from takeback.net.fetch import FetchError, resolve_as_public
from takeback.signals.fingerprint import FingerprintOptions
from takeback.store import AuditEvent, Database
from takeback.watch import service as ws
from takeback.watch.check import (
    CaseFingerprint,
    CheckLimits,
    ImageSeen,
    PageCheck,
    _hash,
    _match,
    decide,
    image_urls,
    url_digest,
)
from takeback.watch.models import Outcome, Watch
from tests.conftest import encode, synthetic_photo

SIGNER = Signer.generate()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOST = "site.test"
PHOTO = encode(synthetic_photo(320, 240, seed=3), "JPEG", quality=90)
RECODED = encode(synthetic_photo(320, 240, seed=3), "JPEG", quality=55)  # same picture, other bytes
OTHER = encode(synthetic_photo(320, 240, seed=9), "PNG")


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims 900 megapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


class Site:
    """Pages as ``path -> (status, content type, body)``; change them between checks."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.hits: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                status, ctype, body = site.pages.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def html(self, path: str, body: str) -> None:
        self.pages[path] = (200, "text/html; charset=utf-8", body.encode())

    def image(self, path: str, data: bytes, ctype: str = "image/jpeg") -> None:
        self.pages[path] = (200, ctype, data)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    t = threading.Thread(target=s.server.serve_forever, daemon=True)
    t.start()
    with resolve_as_public(HOST, "127.0.0.1"):
        yield s
    s.server.shutdown()
    s.server.server_close()


def new_case(db: Database, tmp_path: Path, post_url: str | None = None) -> str:
    """A case with one evidence item (the photo, hash only) and, if given, a takedown for the post."""
    shot = tmp_path / "shot.jpg"
    shot.write_bytes(PHOTO)
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="US", consents=(Purpose.HASHING,))
        ev.add_file(
            s, case=c, path=shot, actor="ana", signer=SIGNER, locker=None, capture_zone="UTC", now=NOW
        )
        if post_url:
            cs.add_takedown(s, case=c, url=post_url, actor="ana", platform="Forum", sent_at=NOW, now=NOW)
        return c.reference


def run(db: Database, ref: str, at: datetime, **kw: object) -> list[ws.CheckRun]:
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        runs = ws.run_due(s, signer=SIGNER, actor="watcher", case=c, now=at, **kw)  # type: ignore[arg-type]
        for r in runs:  # read what the tests look at while the session is open
            _ = (r.watch.id, r.watch.url)
        return runs


def checks(db: Database, ref: str) -> list[dict[str, Any]]:
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        return [
            e.details for e in SqlCustodyStore(s, c.custody_log_id).entries() if e.action == "watch.checked"
        ]


def test_still_up_then_removed_moves_the_takedown_and_is_evidence(
    db: Database, tmp_path: Path, site: Site
) -> None:
    post = site.url("/post/1")
    site.html("/post/1", '<html><body><img src="/img/a.jpg"><img srcset="/img/b.png 2x"></body></html>')
    site.image("/img/a.jpg", PHOTO)
    site.image("/img/b.png", OTHER, "image/png")
    ref = new_case(db, tmp_path, post)
    with db.session() as s:
        (w,) = ws.add_takedown_watches(
            s, case=cs.get_case(s, reference=ref), actor="ana", every_hours=6, now=NOW
        )
        assert w.takedown_id is not None and w.url == post

    (first,) = run(db, ref, NOW + timedelta(minutes=1))
    assert first.outcome is Outcome.STILL_UP and first.check.http_status == 200
    assert run(db, ref, NOW + timedelta(hours=2)) == []  # not due again for 6 hours

    site.html("/post/1", '<html><body><img src="/img/b.png"></body></html>')  # the platform took it down
    (second,) = run(db, ref, NOW + timedelta(hours=7))
    assert second.outcome is Outcome.REMOVED and second.takedown_status == "removed"

    up, down = checks(db, ref)
    assert up["outcome"] == "still_up" and up["http_status"] == 200 and up["url_sha256"] == url_digest(post)
    seen = {i["url_sha256"]: i for i in up["images"]}
    a = seen[url_digest(site.url("/img/a.jpg"))]
    assert a["matches"] == [{"source": "item", "id": 1, "signal": "sha256", "distance": 0}]
    assert a["sha256"] and a["pdq"]
    assert seen[url_digest(site.url("/img/b.png"))]["matches"] == []
    assert down["outcome"] == "removed" and all(not i["matches"] for i in down["images"])
    assert "http://" not in repr(up)  # URLs appear as digests only
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        assert ev.verify_case(s, case=c).ok
        (t,) = s.scalars(select(Takedown).where(Takedown.case_id == c.id))
        assert t.status == "removed" and t.resolved_at is not None
        actions = [a.action for a in s.scalars(select(AuditEvent).where(AuditEvent.object_type == "watch"))]
        assert actions == ["watch.add", "watch.check", "watch.check"]


def test_a_reupload_at_a_new_url_and_a_return_after_removal(db: Database, tmp_path: Path, site: Site) -> None:
    site.html("/t/9", '<meta property="og:image" content="/media/x.jpg"><p>thread')
    site.image("/media/x.jpg", RECODED)  # re-encoded: PDQ matches, SHA-256 does not
    ref = new_case(db, tmp_path)
    with db.session() as s:
        ws.add_watch(
            s, case=cs.get_case(s, reference=ref), url=site.url("/t/9"), actor="ana", every_hours=1, now=NOW
        )
    (r,) = run(db, ref, NOW)
    assert r.outcome is Outcome.STILL_UP
    (m,) = r.check.matched[0].matches
    assert m["signal"] == "pdq" and 0 < m["distance"] <= 31

    site.html("/t/9", '<meta name="twitter:image" content="/media/y.jpg">')
    site.image("/media/y.jpg", RECODED)
    (r,) = run(db, ref, NOW + timedelta(hours=1))
    assert r.outcome is Outcome.REUPLOADED

    site.html("/t/9", "<p>nothing here</p>")
    assert run(db, ref, NOW + timedelta(hours=2))[0].outcome is Outcome.REMOVED
    site.html("/t/9", '<img src="/media/x.jpg">')  # back at the old address after removal
    assert run(db, ref, NOW + timedelta(hours=3))[0].outcome is Outcome.REUPLOADED
    assert [c["outcome"] for c in checks(db, ref)] == ["still_up", "reuploaded", "removed", "reuploaded"]


def test_page_gone_and_http_errors(db: Database, tmp_path: Path, site: Site) -> None:
    post = site.url("/gone")
    ref = new_case(db, tmp_path, post)
    site.pages["/broken"] = (500, "text/plain", b"oops")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        ws.add_watch(s, case=c, url=post, actor="ana", now=NOW)
        ws.add_watch(s, case=c, url=site.url("/broken"), actor="ana", now=NOW)
    gone, broken = run(db, ref, NOW)
    assert (gone.outcome, gone.check.http_status, gone.takedown_status) == (Outcome.PAGE_GONE, 404, "removed")
    assert (broken.outcome, broken.reason) == (Outcome.UNREACHABLE, "http_500")


def test_a_decompression_bomb_is_one_images_error_and_the_check_goes_on(
    db: Database, tmp_path: Path, site: Site
) -> None:
    site.html("/p", '<img src="/bomb.png"><img src="/a.jpg"><img src="/missing.jpg">')
    site.image("/bomb.png", png_bomb(), "image/png")
    site.image("/a.jpg", PHOTO)
    ref = new_case(db, tmp_path)
    with db.session() as s:
        ws.add_watch(s, case=cs.get_case(s, reference=ref), url=site.url("/p"), actor="ana", now=NOW)
    (r,) = run(db, ref, NOW)
    assert r.outcome is Outcome.STILL_UP
    errors = {i.url.rsplit("/", 1)[1]: i.error for i in r.check.images}
    assert errors == {"bomb.png": "too_many_pixels", "a.jpg": None, "missing.jpg": "http_error"}


def test_non_html_broken_html_and_a_direct_image(db: Database, tmp_path: Path, site: Site) -> None:
    site.pages["/api"] = (200, "application/json", b'{"html": "<img src=\\"/a.jpg\\">"}')
    site.pages["/junk"] = (
        200,
        "text/html; charset=klingon",
        b"<div><p>unclosed <b>x < y <img src=/a.jpg alt=\xff\xfe><i></b></div></html <!--",
    )
    site.image("/a.jpg", PHOTO)
    ref = new_case(db, tmp_path)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        for path in ("/api", "/junk", "/a.jpg"):
            ws.add_watch(s, case=c, url=site.url(path), actor="ana", now=NOW)
    api, junk, direct = run(db, ref, NOW)
    assert (api.outcome, api.check.page_kind, api.check.images) == (Outcome.REMOVED, "other", [])
    assert "/a.jpg" not in site.hits[: site.hits.index("/api") + 1]
    assert (junk.outcome, junk.check.page_kind) == (Outcome.STILL_UP, "html")
    assert (direct.outcome, direct.check.page_kind) == (Outcome.STILL_UP, "media")


def test_a_private_address_is_refused_by_the_production_check(
    db: Database, tmp_path: Path, site: Site
) -> None:
    site.html("/p", '<img src="/a.jpg">')
    ref = new_case(db, tmp_path)
    with db.session() as s:
        ws.add_watch(
            s, case=cs.get_case(s, reference=ref), url=f"http://127.0.0.1:{site.port}/p", actor="ana", now=NOW
        )
    (r,) = run(db, ref, NOW)
    assert (r.outcome, r.reason, r.check.http_status) == (Outcome.UNREACHABLE, "blocked_address", None)
    assert site.hits == []  # nothing was sent
    assert checks(db, ref)[0]["reason"] == "blocked_address"


def test_limits_on_images_and_watch_housekeeping(db: Database, tmp_path: Path, site: Site) -> None:
    site.html("/many", "".join(f'<img src="/i{n}.jpg">' for n in range(5)))
    ref = new_case(db, tmp_path)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        w = ws.add_watch(s, case=c, url=site.url("/many"), actor="ana", now=NOW)
        with pytest.raises(ws.WatchError):
            ws.add_watch(s, case=c, url=site.url("/many"), actor="ana", now=NOW)
        with pytest.raises(FetchError) as bad:
            ws.add_watch(s, case=c, url="file:///etc/passwd", actor="ana", now=NOW)
        assert bad.value.code == "bad_url"
        with pytest.raises(ws.WatchError):
            ws.add_watch(s, case=c, url=site.url("/x"), actor="ana", every_hours=0, now=NOW)
        wid = w.id
    (r,) = run(db, ref, NOW, limits=CheckLimits(max_images=2))
    assert (len(r.check.images), r.check.skipped) == (2, 3)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        ws.remove_watch(s, case=c, watch_id=wid, actor="ana", now=NOW)
        assert ws.watches(s, case=c) == []
    assert run(db, ref, NOW + timedelta(days=1)) == []


def test_deleting_a_case_erases_its_watches(db: Database, tmp_path: Path) -> None:
    ref = new_case(db, tmp_path, "https://forum.example/p/1")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        ws.add_takedown_watches(s, case=c, actor="ana", now=NOW)
        ws.add_watch(s, case=c, url="https://forum.example/p/2", actor="ana", now=NOW)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        assert ws.delete_case_watches(s, case=c, actor="ana") == 2
        ev.delete_case(s, case=c, actor="ana", signer=SIGNER, remove_blob=lambda _b: True)
    with db.session() as s:
        assert list(s.scalars(select(Watch))) == []
        assert ws.due(s, now=NOW + timedelta(days=1)) == []


def test_flat_pictures_never_match_by_pdq_and_a_redirect_elsewhere_is_a_reupload() -> None:
    grey, lighter = (encode(np.full((200, 200, 3), v, dtype=np.uint8), "PNG") for v in (128, 131))
    seen = _hash("https://x.example/spacer.png", lighter, FingerprintOptions())
    flat = _hash("case", grey, FingerprintOptions())
    assert seen.sha256 != flat.sha256 and (seen.pdq_quality or 0) < 50
    _match(seen, [CaseFingerprint("item", 1, flat.sha256, flat.pdq)])
    assert seen.matches == []

    def page(final: str) -> PageCheck:
        hit = ImageSeen(url="https://x.example/a.jpg", matches=[{"source": "item", "id": 1}])
        return PageCheck(url="http://x.example/p/1", final_url=final, http_status=200, images=[hit])

    def outcome(final: str) -> Outcome:
        seen_before = ["https://x.example/a.jpg"]
        return decide(
            page(final), watched_url="http://x.example/p/1", seen_urls=seen_before, last_outcome=None
        )[0]

    assert outcome("https://x.example/p/1/") is Outcome.STILL_UP  # https and a slash: the same page
    assert outcome("https://x.example/p/2") is Outcome.REUPLOADED


def test_image_urls_reads_img_srcset_meta_and_base() -> None:
    html = """<base href="/b/"><img src="one.jpg"><img srcset="s1.jpg 1x, /abs/s2.jpg 2x">
    <picture><source srcset="p.webp"></picture><meta property="og:image" content="https://cdn.example.org/og.jpg">
    <img src="data:image/png;base64,AAAA"><img src="one.jpg#x"><video poster="v.jpg" src="v.mp4"></video>
    <img src="javascript:alert(1)">"""
    assert image_urls(html, "https://site.example/post/1") == [
        "https://site.example/b/one.jpg",
        "https://site.example/b/s1.jpg",
        "https://site.example/abs/s2.jpg",
        "https://site.example/b/p.webp",
        "https://cdn.example.org/og.jpg",
        "https://site.example/b/v.mp4",
        "https://site.example/b/v.jpg",
    ]
