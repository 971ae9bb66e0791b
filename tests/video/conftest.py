"""Video fixtures: the shared sample clips, their reference vPDQ output, and a synthetic video maker.

Synthetic videos pan across generated pictures (``tests.conftest.synthetic_photo``) and cut to a new
scene every few seconds; nothing here is a real photo of a person.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from takeback.signals.vpdq import VpdqFrame, VpdqOptions, VpdqResult, parse_text, vpdq_from_video
from tests.conftest import synthetic_photo

CLIPS = (
    "chair-19-sd-bar",
    "chair-22-sd-grey-bar",
    "chair-22-with-large-logo-bar",
    "chair-orig-22-sd-bar",
    "doorknob-hd-no-bar",
    "pattern-hd-no-bar",
    "pattern-sd-grey-bar",
)


@pytest.fixture(scope="session")
def video_data(shared_data: Path) -> Path:
    return shared_data / "video"


def reference_frames(video_data: Path, name: str) -> list[VpdqFrame]:
    return parse_text((video_data / "vpdq-reference" / f"{name}.txt").read_text())


class BankCache:
    """Bank-side fingerprints (every distinct frame) of the sample clips, computed once a session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[tuple[str, float, bool], VpdqResult] = {}

    def get(self, name: str, *, interval: float = 0.0, borders: bool = True) -> VpdqResult:
        key = (name, interval, borders)
        if key not in self._done:
            opts = VpdqOptions(interval=interval, borders=borders)
            self._done[key] = vpdq_from_video(self.root / f"{name}.mp4", options=opts)
        return self._done[key]


@pytest.fixture(scope="session")
def clips(video_data: Path) -> BankCache:
    return BankCache(video_data)


def scene_frame(t: float, width: int, height: int, *, scene_s: float = 4.0) -> np.ndarray:
    """RGB picture at time ``t``: a slow pan over a generated picture, a new picture each scene."""
    scene = int(t // scene_s)
    big = _scene_image(scene, width, height)
    p = (t % scene_s) / scene_s
    x = int(p * (big.shape[1] - width))
    y = int(0.5 * p * (big.shape[0] - height))
    return np.ascontiguousarray(big[y : y + height, x : x + width])


_SCENES: dict[tuple[int, int, int], np.ndarray] = {}


def _scene_image(scene: int, width: int, height: int) -> np.ndarray:
    key = (scene, width, height)
    if key not in _SCENES:
        _SCENES[key] = synthetic_photo(int(width * 1.3), int(height * 1.2), seed=100 + scene)
    return _SCENES[key]


def write_video(
    path: Path,
    *,
    seconds: float = 3.0,
    fps: int = 25,
    width: int = 320,
    height: int = 240,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    frame: Callable[[float, int, int], np.ndarray] = scene_frame,
) -> Path:
    """Encode a synthetic video with PyAV (the container follows the file extension)."""
    out = av.open(str(path), "w", options=container_options or {})
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    opts = dict(options or {})
    if gop is not None:
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            opts.setdefault("x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0")
    stream.options = opts
    tb = Fraction(1, fps)
    for i in range(round(seconds * fps)):
        vf = av.VideoFrame.from_ndarray(frame(i / fps, width, height), format="rgb24")
        vf.pts, vf.time_base = i, tb
        for pkt in stream.encode(vf):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
    out.close()
    return path


def cut_clip(
    source: Path, dest: Path, *, start: float, seconds: float, width: int, height: int, crf: int
) -> Path:
    """Re-encode ``seconds`` from ``start`` of ``source``, resized: a clip as someone would share it."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        out = av.open(str(dest), "w")
        enc = out.add_stream("libx264", rate=30)
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.options = {"crf": str(crf), "preset": "veryfast"}
        n = 0
        for fr in src.decode(stream):
            if fr.time is None or fr.time < start:
                continue
            if fr.time >= start + seconds:
                break
            nf = fr.reformat(width=width, height=height, format="yuv420p")
            nf.pts, nf.time_base = n, Fraction(1, 30)
            n += 1
            for pkt in enc.encode(nf):
                out.mux(pkt)
        for pkt in enc.encode():
            out.mux(pkt)
        out.close()
    return dest
