"""Videos in a scan: vPDQ through the adapter, near-duplicate stacks of re-encoded copies, one decode
per video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from takeback.triage import video
from tests.triage.conftest import ScanFn, items, rows


def _clip(
    path: Path, *, seed: int, size: tuple[int, int] = (320, 240), crf: str = "23", frames: int = 45
) -> None:
    av = pytest.importorskip("av")
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.uint8).repeat(8, axis=0).repeat(8, axis=1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15, options={"crf": crf})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            frame = np.roll(base, i * 3, axis=1)
            if i == frames // 2:
                base = 255 - base  # a scene cut
            for pkt in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


def test_videos_get_vpdq_and_copies_stack(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _clip(src / "a.mp4", seed=1)
    _clip(src / "a_reencoded.mp4", seed=1, crf="35")
    _clip(src / "b.mp4", seed=2)
    case = tmp_path / "case"
    scan(case, [src])
    got = items(case)
    a = got[str(src / "a.mp4")]
    assert a["kind"] == "video" and a["vpdq_frames"] > 0 and a["duration_ms"] > 0 and a["sha256"]
    assert a["error_code"] is None
    frames = video.unpack(a["vpdq"])
    assert len(frames) == a["vpdq_frames"]
    stacks = rows(
        case,
        "SELECT group_id, item_id FROM grp_member m JOIN grp g ON g.id = m.group_id "
        "WHERE g.kind = 'near_duplicates'",
    )
    groups: dict[int, set[int]] = {}
    for r in stacks:
        groups.setdefault(r["group_id"], set()).add(r["item_id"])
    assert {a["id"], got[str(src / "a_reencoded.mp4")]["id"]} in groups.values()
    assert not any(got[str(src / "b.mp4")]["id"] in g for g in groups.values())
    jsonl = (case / "items.jsonl").read_text(encoding="utf-8")
    assert '"vpdq": ["' in jsonl


def test_an_in_memory_video_is_decoded_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The worker's fingerprint step already hashes a video's vPDQ; the video step must reuse it,
    not decode the video a second time."""
    from takeback.media.video import VideoReader
    from takeback.triage import tasks

    clip = tmp_path / "a.mp4"
    _clip(clip, seed=3, frames=20)
    decodes = 0
    real_frames = VideoReader.frames

    def counted(self: VideoReader, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return real_frames(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(VideoReader, "frames", counted)
    tasks.init_worker(tasks.WorkerOptions())
    r = tasks.run_task(tasks.BytesTask(1, clip.read_bytes(), "a.mp4"))
    assert decodes == 1
    assert r.vpdq and r.vpdq_frames == len(video.unpack(r.vpdq)) and r.duration_ms and r.duration_ms > 0
