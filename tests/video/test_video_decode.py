"""Decoding videos of every supported container, sampling, luma conversion, rotation, limits."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from takeback.media.video import VideoReader, frame_luma
from takeback.signals.pdq import hamming, pdq_from_luma
from takeback.signals.vpdq import VpdqOptions, vpdq_from_video
from tests.video.conftest import scene_frame, write_video

FORMATS = [
    ("mp4", "libx264", "yuv420p", "video/mp4"),
    ("webm", "libvpx-vp9", "yuv420p", "video/webm"),
    ("mov", "libx264", "yuv420p", "video/quicktime"),
    ("mkv", "libx264", "yuv420p", "video/x-matroska"),
    ("avi", "mpeg4", "yuv420p", "video/x-msvideo"),
    ("gif", "gif", "rgb8", "image/gif"),
]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.float32)


@pytest.mark.parametrize(("ext", "codec", "pix_fmt", "mime"), FORMATS)
def test_every_container_decodes_to_the_source_pictures(
    tmp_path: Path, ext: str, codec: str, pix_fmt: str, mime: str
) -> None:
    path = write_video(tmp_path / f"v.{ext}", seconds=2, fps=10, codec=codec, pix_fmt=pix_fmt)
    with VideoReader(path) as reader:
        assert reader.info.mime == mime and reader.info.width == 320 and reader.info.height == 240
        frames = list(reader.frames(interval=0))
        assert reader.stats.partial is None
    assert [f.number for f in frames] == list(range(20))
    assert [round(f.timestamp, 2) for f in frames] == [round(i / 10, 2) for i in range(20)]
    for f in frames[::7]:
        assert f.luma.shape == (240, 320) and f.luma.dtype == np.uint8
        source = pdq_from_luma(_luma(scene_frame(f.timestamp, 320, 240)))
        tolerance = 40 if codec == "gif" else 16  # a 256-colour palette moves more bits
        assert hamming(pdq_from_luma(f.luma).hash, source.hash) <= tolerance


def test_animated_webp_and_gif_through_fingerprint(tmp_path: Path) -> None:
    """Animations are images (PDQ of the first frame) *and* videos (every frame, vPDQ)."""
    from takeback.signals.fingerprint import fingerprint_file

    pics = [Image.fromarray(scene_frame(t, 160, 120, scene_s=0.5)) for t in (0.0, 0.6, 1.2, 1.8)]
    for fmt in ("WEBP", "GIF"):
        path = tmp_path / f"anim.{fmt.lower()}"
        pics[0].save(path, fmt, save_all=True, append_images=pics[1:], duration=250, loop=0)
        fp = fingerprint_file(path)
        assert fp.error is None and fp.partial is None, fp.error
        assert fp.hex("pdq") is not None and fp.vpdq_frames is not None
        assert fp.frame_count == 4 and fp.duration_s == pytest.approx(1.0, abs=0.05)
        stamps = [float(line.split(",")[3]) for line in fp.vpdq_frames]
        assert stamps == [0.0, 0.25, 0.5, 0.75]  # four different scenes: nothing dropped
        first = fp.vpdq_frames[0].split(",")[2]
        if fmt == "WEBP":  # frames decoded by Pillow: the still's luma, so the still's hash
            assert first == fp.hex("pdq")
        else:  # GIF frames come through libavcodec + libswscale's 8-bit grey
            assert hamming(bytes.fromhex(first), fp.signals["pdq"].value) <= 10


def test_still_image_has_no_video_fields(tmp_path: Path) -> None:
    from takeback.signals.fingerprint import fingerprint_file

    path = tmp_path / "still.png"
    Image.fromarray(scene_frame(0.0, 200, 150)).save(path)
    rec = fingerprint_file(path).to_record()
    assert "vpdq_frames" not in rec and "duration_s" not in rec and "frame_count" not in rec


def test_interval_sampling_decodes_only_what_it_needs(tmp_path: Path) -> None:
    # Keyframe every 2 s (GOP 50 at 25 fps): windows on keyframes cost one intra frame.
    path = write_video(tmp_path / "g50.mp4", seconds=8, fps=25, gop=50)
    with VideoReader(path) as reader:
        sampled = list(reader.frames(interval=1.0))
        decoded = reader.stats.decoded
    windows = [int(f.timestamp) for f in sampled if not f.extra]
    assert windows == list(range(8))  # one frame in each 1-second window
    assert all(f.timestamp - int(f.timestamp) < 0.2 for f in sampled)  # near each window's start
    assert decoded < 0.5 * 200  # B-frames skipped; nothing decoded after a window is served
    # Keyframes every 0.5 s: only keyframes are decoded.
    dense = write_video(tmp_path / "g12.mp4", seconds=6, fps=24, gop=12)
    with VideoReader(dense) as reader:
        sampled = list(reader.frames(interval=1.0))
        assert all(f.keyframe for f in sampled)
        assert reader.stats.decoded <= 12


def test_keyframes_only_decodes_nothing_else(tmp_path: Path) -> None:
    path = write_video(tmp_path / "g50.mp4", seconds=8, fps=25, gop=50)
    with VideoReader(path) as reader:
        sampled = list(reader.frames(interval=1.0, keyframes_only=True))
        assert reader.stats.decoded == 4 and reader.stats.packets == 200
    assert [f.timestamp for f in sampled] == [0.0, 2.0, 4.0, 6.0] and all(f.keyframe for f in sampled)


def test_sampled_frames_equal_fully_decoded_frames(tmp_path: Path) -> None:
    """Skipping unreferenced frames is exact: a sampled frame is bit-identical to the same frame
    decoded in full."""
    path = write_video(tmp_path / "v.mp4", seconds=5, fps=25, gop=60)
    with VideoReader(path) as reader:
        every = {f.number: pdq_from_luma(f.luma).hash for f in reader.frames(interval=0)}
    with VideoReader(path) as reader:
        sampled = [(f.number, pdq_from_luma(f.luma).hash) for f in reader.frames(interval=1.0)]
    assert len(sampled) >= 5
    assert all(every[n] == h for n, h in sampled)


def test_limited_range_luma_is_expanded() -> None:
    """Video's Y is 16-235; PDQ quality is computed on 0-255 luma, as the reference's RGB path gives."""
    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.float32), (64, 1))
    rgb = np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    luma = frame_luma(frame)
    assert luma.min() <= 1 and luma.max() >= 254


def test_large_frames_are_reduced_within_pdq_compatibility(tmp_path: Path) -> None:
    path = write_video(tmp_path / "uhd.mp4", seconds=0.2, fps=10, width=3840, height=2160)
    with VideoReader(path) as reader:
        (first, _) = list(reader.frames(interval=0))
    assert first.luma.shape == (1080, 1920)
    full = pdq_from_luma(_luma(scene_frame(0.0, 3840, 2160)))
    assert hamming(pdq_from_luma(first.luma).hash, full.hash) <= 10


def _rotate_mp4(data: bytes) -> bytes:
    """Set the video track's display matrix to 'rotate 90 degrees clockwise' (as phones record)."""
    buf = bytearray(data)
    i = buf.find(b"tkhd")
    version = buf[i + 4]
    matrix = i + 8 + (20 if version == 0 else 32) + 16
    struct.pack_into(">9i", buf, matrix, 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    return bytes(buf)


def test_display_rotation_is_applied(tmp_path: Path) -> None:
    def band(t: float, w: int, h: int) -> np.ndarray:
        a = np.zeros((h, w, 3), np.uint8)
        a[:, : w // 4] = 255  # a white band down the left edge
        return a

    path = write_video(tmp_path / "band.mp4", seconds=0.3, fps=10, width=160, height=96, frame=band)
    rotated = tmp_path / "rotated.mp4"
    rotated.write_bytes(_rotate_mp4(path.read_bytes()))
    with VideoReader(rotated) as reader:
        luma = next(iter(reader.frames(interval=0))).luma
    assert luma.shape == (160, 96)  # upright: portrait
    assert luma[:20].mean() > 200 and luma[-100:].mean() < 30  # the band is now along the top


def test_bytes_and_path_give_the_same_fingerprint(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.webm", seconds=2, fps=10, codec="libvpx-vp9")
    a = vpdq_from_video(path, options=VpdqOptions(interval=0))
    b = vpdq_from_video(path.read_bytes(), options=VpdqOptions(interval=0))
    assert a.frames == b.frames and a.frame_count == b.frame_count == 20


def test_static_video_keeps_one_frame(tmp_path: Path) -> None:
    still = scene_frame(0.0, 320, 240)
    path = write_video(tmp_path / "still.mp4", seconds=4, fps=25, frame=lambda t, w, h: still)
    result = vpdq_from_video(path, options=VpdqOptions(interval=0))
    assert len(result.frames) == 1 and result.frame_count == 100
    assert result.duration_s == pytest.approx(4.0, abs=0.05)


def test_hls_playlist_renamed_mp4_is_not_followed(tmp_path: Path) -> None:
    """An HLS playlist could make FFmpeg fetch URLs or read local files: never probed as such."""
    from takeback.media import MediaError

    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    for name in ("list.mp4", "list.m3u8"):
        (tmp_path / name).write_bytes(playlist)
        with pytest.raises(MediaError) as err:
            vpdq_from_video(tmp_path / name)
        assert err.value.code == "unsupported_type"
    # Bytes of a real MP4 with an audio-only PyAV-made stream must not confuse the type check.
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    stream = out.add_stream("aac", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 8000, 0, Fraction(1, 8000)
    for pkt in stream.encode(frame):
        out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
    out.close()
    with pytest.raises(MediaError) as err:
        vpdq_from_video(buf.getvalue())
    assert err.value.code == "no_video_stream"
