"""Bad video input: each gives a clear per-file error or a partial result marked as such, and a
batch carries on past all of them."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from takeback.media import MediaError
from takeback.media.video import VideoLimits
from takeback.signals.batch import fingerprint_paths
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_file
from takeback.signals.vpdq import VpdqOptions, vpdq_from_video
from tests.video.conftest import write_video


def _error(path: Path | bytes, **opts: object) -> MediaError:
    with pytest.raises(MediaError) as err:
        vpdq_from_video(path, options=VpdqOptions(**opts))  # type: ignore[arg-type]
    assert err.value.message and "Traceback" not in err.value.message
    return err.value


def audio_only(path: Path) -> Path:
    out = av.open(str(path), "w")
    stream = out.add_stream("aac", rate=44100)
    for i in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 44100, i * 1024, Fraction(1, 44100)
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
    out.close()
    return path


def zero_length(path: Path, codec: str = "libx264") -> Path:
    out = av.open(str(path), "w")
    stream = out.add_stream(codec, rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    out.start_encoding()
    out.close()
    return path


def corrupt_middle(data: bytes) -> bytes:
    buf = bytearray(data)
    rng = np.random.default_rng(0)
    start = buf.find(b"mdat")
    for k in range(5):
        pos = start + int((0.3 + 0.1 * k) * (len(buf) - start))
        buf[pos : pos + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    return bytes(buf)


def test_truncated_mp4_without_index(tmp_path: Path) -> None:
    data = write_video(tmp_path / "v.mp4", seconds=3).read_bytes()  # index (moov) written last
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    assert _error(tmp_path / "cut.mp4").code == "truncated_video"


def test_truncated_mp4_with_index_first_is_partial(tmp_path: Path) -> None:
    data = write_video(
        tmp_path / "v.mp4", seconds=3, container_options={"movflags": "faststart"}
    ).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 4 // 5])
    result = vpdq_from_video(tmp_path / "cut.mp4", options=VpdqOptions(interval=0))
    assert result.partial is not None and result.partial.code == "truncated_video"
    assert "1." in result.partial.message and "3.0 s" in result.partial.message
    assert len(result.frames) > 1 and 1.0 < result.duration_s < 3.0


def test_audio_only(tmp_path: Path) -> None:
    err = _error(audio_only(tmp_path / "a.mp4"))
    assert err.code == "no_video_stream" and "audio" in err.message


@pytest.mark.parametrize(("ext", "code"), [("avi", "no_video_frames"), ("mp4", "no_video_stream")])
def test_zero_length_video(tmp_path: Path, ext: str, code: str) -> None:
    assert _error(zero_length(tmp_path / f"empty.{ext}")).code == code


def test_corrupt_frames_mid_stream_hash_what_decodes(tmp_path: Path) -> None:
    clean_file = write_video(
        tmp_path / "v.mp4", seconds=3, gop=25, container_options={"movflags": "faststart"}
    )
    (tmp_path / "bad.mp4").write_bytes(corrupt_middle(clean_file.read_bytes()))
    result = vpdq_from_video(tmp_path / "bad.mp4", options=VpdqOptions(interval=0, repeat_distance=-1))
    assert result.partial is not None and result.partial.code == "corrupt_frames"
    assert "of 75 frames could not be decoded" in result.partial.message
    assert 0 < len(result.frames) < 75 and result.frame_count == 75
    assert result.duration_s == pytest.approx(3.0)
    clean = {
        f.number: f.hash
        for f in vpdq_from_video(clean_file, options=VpdqOptions(interval=0, repeat_distance=-1)).frames
    }
    # What was hashed is exactly right; frames predicted from damaged ones are left out, not hashed
    # as garbage.
    assert all(f.hash == clean[f.number] for f in result.frames)


def test_damaged_beyond_use(tmp_path: Path) -> None:
    """One long GOP whose keyframe is damaged: nothing decodes cleanly, so it is an error."""
    data = write_video(
        tmp_path / "v.mp4", seconds=3, container_options={"movflags": "faststart"}
    ).read_bytes()
    (tmp_path / "bad.mp4").write_bytes(corrupt_middle(data))
    assert _error(tmp_path / "bad.mp4").code == "corrupt_video"


def test_limits_refuse_absurd_headers(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", seconds=3)
    assert _error(path, limits=VideoLimits(max_width=100)).code == "video_too_large"
    assert _error(path, limits=VideoLimits(max_pixels=10_000)).code == "video_too_large"
    err = _error(path, limits=VideoLimits(max_frames=10))
    assert err.code == "video_too_long" and "75 frames" in err.message
    assert _error(path, limits=VideoLimits(max_duration_s=1)).code == "video_too_long"


def test_limits_stop_a_stream_whose_headers_say_nothing(tmp_path: Path) -> None:
    # MPEG-TS declares no frame count: the limit applies while reading, and what was read is kept.
    path = write_video(tmp_path / "v.ts", seconds=3)
    result = vpdq_from_video(path, options=VpdqOptions(interval=0, limits=VideoLimits(max_frames=10)))
    assert result.partial is not None and result.partial.code == "video_too_long"
    assert result.frame_count == 10 and result.frames


def test_files_that_claim_to_be_video_but_are_not(tmp_path: Path) -> None:
    (tmp_path / "text.mp4").write_text("not a video\n")
    (tmp_path / "random.mp4").write_bytes(os.urandom(5000))
    (tmp_path / "fake.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(5000)
    )
    (tmp_path / "fake.webm").write_bytes(b"\x1aE\xdf\xa3" + b"\x00webm" + os.urandom(3000))
    assert _error(tmp_path / "text.mp4").code == "unsupported_type"
    assert _error(tmp_path / "random.mp4").code == "unsupported_type"
    assert _error(tmp_path / "fake.mp4").code == "corrupt_video"
    assert _error(tmp_path / "fake.webm").code == "corrupt_video"


def test_a_batch_carries_on(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.mp4", seconds=2)
    data = write_video(
        tmp_path / "tmp.mp4", seconds=3, gop=25, container_options={"movflags": "faststart"}
    ).read_bytes()
    (tmp_path / "tmp.mp4").unlink()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "cut-in-first-frame.mp4").write_bytes(data[: len(data) // 10])
    (tmp_path / "damaged.mp4").write_bytes(corrupt_middle(data))
    (tmp_path / "notvideo.mp4").write_text("hello")
    (tmp_path / "empty.mp4").write_bytes(b"")
    audio_only(tmp_path / "audio.mp4")
    zero_length(tmp_path / "zero.avi")
    records = {
        Path(fp.path).name: fp
        for fp in fingerprint_paths([str(tmp_path)], options=FingerprintOptions(), jobs=2)
    }
    assert set(records) == {
        "good.mp4",
        "truncated.mp4",
        "cut-in-first-frame.mp4",
        "damaged.mp4",
        "notvideo.mp4",
        "empty.mp4",
        "audio.mp4",
        "zero.avi",
    }
    assert records["good.mp4"].error is None and records["good.mp4"].vpdq_frames
    assert records["truncated.mp4"].partial and records["truncated.mp4"].partial["code"] == "truncated_video"
    assert records["damaged.mp4"].partial and records["damaged.mp4"].partial["code"] == "corrupt_frames"
    damaged = records["damaged.mp4"].vpdq  # came back from a worker process with its code intact
    assert damaged is not None and damaged.partial is not None and damaged.partial.code == "corrupt_frames"
    assert records["damaged.mp4"].vpdq_frames
    expected = {
        "cut-in-first-frame.mp4": "truncated_video",
        "notvideo.mp4": "unsupported_type",
        "empty.mp4": "empty_file",
        "audio.mp4": "no_video_stream",
        "zero.avi": "no_video_frames",
    }
    for name, code in expected.items():
        fp = records[name]
        assert fp.error is not None and fp.error["code"] == code, (name, fp.error)
        assert (fp.hex("sha256") and fp.hex("md5")) or name == "empty.mp4"
    assert fingerprint_file(good).to_record()["frame_count"] == 50
