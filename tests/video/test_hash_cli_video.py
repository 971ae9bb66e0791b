"""``takeback hash`` on videos, as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from takeback.signals.vpdq import VpdqFrame
from tests.cli.test_hash_cli import BORDER_VIDEO_FIELDS, FIELDS, run
from tests.conftest import encode, synthetic_photo
from tests.video.conftest import write_video


def test_videos_get_frame_hashes_and_bad_ones_their_error(tmp_path: Path, video_data: Path) -> None:
    write_video(tmp_path / "clip.webm", seconds=3, codec="libvpx-vp9")
    (tmp_path / "photo.jpg").write_bytes(encode(synthetic_photo(320, 240), "JPEG"))
    (tmp_path / "fake.mp4").write_text("not a video")
    (tmp_path / "bars.mp4").write_bytes((video_data / "pattern-sd-grey-bar.mp4").read_bytes())
    proc = run("hash", str(tmp_path), "--format", "jsonl")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    recs = {Path(str(r["path"])).name: r for r in map(json.loads, proc.stdout.splitlines())}
    clip = recs["clip.webm"]
    assert clip["error"] is None and clip["media_type"] == "video/webm"
    assert clip["frame_count"] == 75 and clip["duration_s"] == 3.0
    frames = [VpdqFrame.from_text(line) for line in clip["vpdq_frames"]]
    assert [round(f.timestamp) for f in frames][:3] == [0, 1, 2] and all(f.quality >= 50 for f in frames)
    assert list(recs["photo.jpg"]) == FIELDS  # images keep exactly the image fields
    assert recs["fake.mp4"]["error"]["code"] == "unsupported_type"
    bars = recs["bars.mp4"]
    assert bars["border"] == [0, 720, 32, 448] and len(bars["vpdq_cropped_frames"]) == len(
        bars["vpdq_frames"]
    )
    # every distinct frame, as a bank stores them
    every = run("hash", str(tmp_path / "clip.webm"), "--video-interval", "0")
    assert every.returncode == 0
    assert len(json.loads(every.stdout)["vpdq_frames"]) > len(clip["vpdq_frames"])


def test_csv_and_table(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", seconds=2)
    proc = run("hash", str(tmp_path / "clip.mp4"), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    (row,) = csv.DictReader(io.StringIO(proc.stdout))
    assert list(row) == [*FIELDS[:-1], *BORDER_VIDEO_FIELDS, "error"]
    assert row["frame_count"] == "50" and len(row["vpdq_frames"].split()) >= 2
    table = run("hash", str(tmp_path / "clip.mp4"), "--format", "table")
    assert "frame hashes over 2.0 s (50 frames)" in table.stdout
    assert "0,100," in table.stdout or ",0.000" in table.stdout


def test_partial_result_is_marked_and_exits_one(tmp_path: Path) -> None:
    data = write_video(
        tmp_path / "v.mp4", seconds=3, gop=25, container_options={"movflags": "faststart"}
    ).read_bytes()
    (tmp_path / "v.mp4").write_bytes(data[: len(data) * 2 // 3])
    proc = run("hash", str(tmp_path / "v.mp4"), "--format", "table")
    assert proc.returncode == 1
    assert "partly hashed" in proc.stdout and "truncated" in proc.stdout
    assert "0 of 1 files hashed" in proc.stderr
