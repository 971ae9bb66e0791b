"""vPDQ in real headless Chromium against takeback's own: the sample videos of ``../shared/data/video``.

The browser decodes with its own H.264 decoder and hashes each sampled frame's luma plane; takeback
decodes with FFmpeg. The rule is the photos' one per frame: within 10 bits of takeback's PDQ of the
same frame (found by timestamp among takeback's every-frame hashes) on every frame of quality >= 80,
and the browser's vPDQ of a video matches the bank-side vPDQ takeback makes of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from takeback.matching.video import MatchKind, VideoIndex
from takeback.signals.pdq import hamming
from takeback.signals.vpdq import VpdqFrame, VpdqOptions, pack, parse_text, result_from_value, vpdq_from_video
from tests.portal.test_hashing import MAX_BITS, Page, run_files


@pytest.fixture(scope="module")
def videos(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / "video").glob("*.mp4"))
    if not found:
        pytest.skip("no sample videos in ../shared/data/video")
    return found


@pytest.fixture(scope="module")
def browser_results(chromium: Any, portal_base: str, videos: list[Path]) -> list[dict[str, Any]]:
    from tests.portal import harness

    page, requests = harness.open_harness(chromium, portal_base)
    try:
        out = run_files(page, videos)
        assert page.evaluate("window.harness.violations") == []
        assert all(u.startswith((portal_base + "/", f"blob:{portal_base}/")) for u in requests)
        # the page's own timer kept firing while the page seeked and the worker hashed
        assert out["longestGapMs"] < 1000
        return list(out["results"])
    finally:
        page.close()


def _nearest(frames: list[VpdqFrame], t: float) -> VpdqFrame:
    return min(frames, key=lambda f: abs(f.timestamp - t))


def test_browser_frames_equal_takeback_frames(
    browser_results: list[dict[str, Any]], videos: list[Path]
) -> None:
    checked = 0
    for path, got in zip(videos, browser_results, strict=True):
        data = path.read_bytes()
        assert (
            got["md5"] == hashlib.md5(data).hexdigest() and got["sha256"] == hashlib.sha256(data).hexdigest()
        )
        assert got["kind"] == "video" and got["error"] is None and got["note"] is None, path.name
        frames = parse_text(got["vpdq"])  # takeback's own parser takes the browser's text
        assert got["vpdq_frames"] == len(frames) >= 1
        every = vpdq_from_video(
            path, options=VpdqOptions(interval=0, repeat_distance=-1, borders=False)
        ).frames
        times = [f.timestamp for f in frames]
        assert times == sorted(times) and len(set(times)) == len(times)
        # about one frame a second: never two in the same one-second window
        assert len({int(t) for t in times}) == len(times)
        for f in frames:
            want = _nearest(every, f.timestamp)
            assert abs(want.timestamp - f.timestamp) < 0.02, (path.name, f.timestamp)
            if want.quality >= 80:
                d = hamming(f.hash, want.hash)
                assert d <= MAX_BITS, f"{path.name} at {f.timestamp}: {d} bits from takeback"
                checked += 1
    assert checked >= 50


def test_browser_vpdq_matches_the_banked_video(
    browser_results: list[dict[str, Any]], videos: list[Path]
) -> None:
    index = VideoIndex()
    for i, path in enumerate(videos):
        index.add(i, vpdq_from_video(path, options=VpdqOptions(interval=0)))  # as a bank stores it
    matched = 0
    for i, (path, got) in enumerate(zip(videos, browser_results, strict=True)):
        query = result_from_value(pack(parse_text(got["vpdq"])))
        found = {m.video_id: m for m in index.match(query)}
        # the same verdict as takeback's own query of the file (a 4-s clip whose last seconds are
        # dark reads as a clip of itself on both sides); every other sample matches outright
        own = {m.video_id: m for m in index.match(vpdq_from_video(path))}
        assert i in found and found[i].kind is own[i].kind, (path.name, found.get(i), own[i])
        matched += found[i].kind is MatchKind.MATCH
    assert matched >= len(videos) - 1


def test_undecodable_video_keeps_exact_hashes_and_says_so(
    harness_page: Page, tmp_path: Path, videos: list[Path]
) -> None:
    page, _ = harness_page
    good = videos[0].read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good[:64] + bytes(len(good) - 64))  # the ftyp box, then zeros
    res = run_files(page, [broken])["results"][0]
    assert res["md5"] == hashlib.md5(broken.read_bytes()).hexdigest()
    assert res["sha256"] == hashlib.sha256(broken.read_bytes()).hexdigest()
    assert res["kind"] == "video" and res["vpdq"] is None and res["vpdq_frames"] is None
    assert res["note"]["code"] == "video_hashes_only" and "MD5 and SHA-256" in res["note"]["message"]


def test_a_forged_mp4_never_reaches_the_browsers_demuxer(harness_page: Page, tmp_path: Path) -> None:
    """An MP4 head and random bytes after it (what crashed Chromium's renderer at 2 GB): the container
    check refuses it from its box headers, so it keeps its exact hashes and the page lives on."""
    import os

    forged = tmp_path / "forged.mp4"
    block = bytearray(os.urandom(1 << 20))
    block[4:8] = b"ftyp"
    forged.write_bytes(bytes(block) * 24)
    page, _ = harness_page
    res = run_files(page, [forged])["results"][0]
    assert res["sha256"] == hashlib.sha256(forged.read_bytes()).hexdigest()
    assert res["vpdq"] is None and res["note"]["code"] == "video_hashes_only"
    checked = page.evaluate(
        """async () => {
          const { plausibleContainer } = await import('/static/js/video.js');
          const box = (size, type) => {
            const b = new Uint8Array(size);
            new DataView(b.buffer).setUint32(0, size);
            b.set([...type].map((c) => c.charCodeAt(0)), 4);
            return b;
          };
          const file = (...parts) => new File(parts, 'v.mp4');
          return [
            await plausibleContainer(file(box(24, 'ftyp'), box(100, 'moov'), box(1000, 'mdat'))),
            await plausibleContainer(file(box(24, 'ftyp'), box(1000, 'mdat'))), // no moov
            await plausibleContainer(file(box(24, 'ftyp'), box(100, 'moov'), box(999, 'zzzz'))), // unknown
            await plausibleContainer(file(box(24, 'ftyp'), box(100, 'moov'), new Uint8Array(7))), // tail
          ];
        }"""
    )
    assert checked == [True, False, False, False]


def test_video_over_the_limit_is_refused_plainly(harness_page: Page, videos: list[Path]) -> None:
    page, _ = harness_page
    path = videos[0]
    page.set_input_files("#files", [str(path)])
    out = page.evaluate("() => window.harness.run({ videoLimits: { maxSeconds: 5 } })")
    res = out["results"][0]
    assert res["vpdq"] is None and len(res["sha256"]) == 64
    assert res["note"]["code"] == "video_too_long"
    assert "longer than" in res["note"]["message"] and "MD5 and SHA-256" in res["note"]["message"]
