"""vPDQ: a video fingerprint made of PDQ hashes of sampled frames, each with its quality and time.

Meta's vPDQ hashes frames and compares videos as *bags* of frame hashes (order ignored), so a clip
cut from a longer video, re-encoded, resized or greyed still matches. We compute the same frame
hashes (PyAV decode -> full-range luma -> :func:`takeback.signals.pdq.pdq_from_luma`; within
distance 10 of the reference's on every quality >= 80 frame of the sample clips) and add:

- **Sampling that decodes only what it needs** (see :mod:`takeback.media.video`): ``interval=1.0``
  (the default, for queries and ``takeback hash``) takes about one frame a second plus scene cuts;
  ``interval=0`` (for banks) hashes every frame.
- **Near-repeat dropping.** A frame within ``repeat_distance`` of the last kept frame adds nothing
  to a bag of hashes. Kept frames stand for the time until the next kept frame. This is what lets a
  bank store *every distinct* frame cheaply, so a query sampled at any phase (a trimmed copy starts
  mid-second) finds its frames in the bank: at 1 frame/s on both sides a trimmed copy matched only
  4-16 % of the original's frames.
- **Border removal.** When a uniform letterbox/pillarbox is found on most frames, each kept frame is
  also hashed inside it (``cropped``); matching uses both.

The text form is the reference's: one ``frame_number,quality,hash,timestamp`` line per frame.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from takeback.media import MediaType
from takeback.media.borders import Box, find_border
from takeback.media.errors import MediaError
from takeback.media.video import VideoLimits, VideoReader
from takeback.signals.base import ContentType, IndexKind, SignalError, SignalType
from takeback.signals.pdq import LOW_QUALITY, MATCH_THRESHOLD, hamming, pdq_from_luma

#: Frames within this distance of the last kept frame are dropped as repeats. Half the match
#: threshold: a query frame within 15 bits of *any* original frame is then within 31 of a kept one.
#: Measured (benchmarks/RESULTS.md): the handheld chair clip keeps 446 of 673 frames (0 to 31 all
#: give the same verdicts on the sample clips; a static shot keeps one frame).
REPEAT_DISTANCE = 16
#: A keyframe between sampling windows is kept only when it is this far from the last kept frame,
#: i.e. when it starts a new scene.
SCENE_CUT_DISTANCE = MATCH_THRESHOLD + 1
#: Default sampling interval for queries, seconds.
DEFAULT_INTERVAL = 1.0
#: Share of usable frames a border must be found on (more than) before the video counts as bordered.
BORDER_MAJORITY = 0.5

_PACK = struct.Struct("<IBI32s")  # number, quality, timestamp in ms, hash


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One frame hash: presentation number, PDQ quality 0-100, 32-byte hash, seconds from start."""

    number: int
    quality: int
    hash: bytes
    timestamp: float

    def to_text(self) -> str:
        return f"{self.number},{self.quality},{self.hash.hex()},{self.timestamp:.3f}"

    @classmethod
    def from_text(cls, line: str) -> VpdqFrame:
        parts = line.strip().split(",")
        if len(parts) != 4:
            raise SignalError(f"A vPDQ line is frame,quality,hash,timestamp; got {line.strip()[:80]!r}.")
        number, quality, hex_hash, ts = parts
        try:
            n, q, t = int(number), int(quality), float(ts)
            h = bytes.fromhex(hex_hash.strip())
        except ValueError:
            raise SignalError(f"Malformed vPDQ line {line.strip()[:80]!r}.") from None
        if len(h) != 32 or not 0 <= q <= 100 or n < 0 or not t >= 0:
            raise SignalError(
                f"Malformed vPDQ line {line.strip()[:80]!r}: the hash is 64 hex characters, quality "
                "0-100, frame and timestamp non-negative."
            )
        return cls(n, q, h, round(t, 3))


def to_text(frames: Iterable[VpdqFrame]) -> str:
    """The reference text form: one ``frame,quality,hash,timestamp`` line per frame."""
    return "".join(f.to_text() + "\n" for f in frames)


def parse_text(text: str) -> list[VpdqFrame]:
    """Frames from the reference text form (blank lines and ``#`` comments ignored)."""
    return [VpdqFrame.from_text(line) for line in text.splitlines() if line.strip() and line[0] != "#"]


def pack(frames: Sequence[VpdqFrame]) -> bytes:
    """Compact binary form (41 bytes a frame) for storage."""
    return b"".join(_PACK.pack(f.number, f.quality, round(f.timestamp * 1000), f.hash) for f in frames)


def unpack(data: bytes) -> list[VpdqFrame]:
    """The frames of a packed value (border-cropped frames and the duration record are skipped)."""
    return unpack_result(data)[0]


_CROPPED = 0x80  # quality byte flag: a frame hashed inside the video's border
_END = 0xFF  # quality byte of the trailing record that carries the duration


def pack_result(result: VpdqResult) -> bytes:
    """A video's whole fingerprint as one value (what a bank stores): its frames, the frames hashed
    inside its border (quality byte | 0x80) and a trailing record holding the duration."""
    return pack_value(result.frames, result.cropped, duration_s=result.duration_s)


def pack_value(
    frames: Sequence[VpdqFrame], cropped: Sequence[VpdqFrame] = (), *, duration_s: float | None = None
) -> bytes:
    """:func:`pack_result` from parts (e.g. frames stored elsewhere plus a known duration); without a
    duration there is no trailing record and matching takes the last frame's time as the end."""
    inner = b"".join(
        _PACK.pack(f.number, f.quality | _CROPPED, round(f.timestamp * 1000), f.hash) for f in cropped
    )
    end = b"" if duration_s is None else _PACK.pack(0, _END, round(duration_s * 1000), bytes(32))
    return pack(frames) + inner + end


def unpack_result(data: bytes) -> tuple[list[VpdqFrame], list[VpdqFrame], float | None]:
    """(frames, border-cropped frames, duration or ``None``) of a :func:`pack`/:func:`pack_result` value."""
    if len(data) % _PACK.size:
        raise SignalError(f"A packed vPDQ value is a multiple of {_PACK.size} bytes; got {len(data)}.")
    frames: list[VpdqFrame] = []
    cropped: list[VpdqFrame] = []
    duration: float | None = None
    for n, q, ms, h in _PACK.iter_unpack(data):
        if q == _END:
            duration = ms / 1000
        elif q & _CROPPED:
            cropped.append(VpdqFrame(n, q & ~_CROPPED, h, ms / 1000))
        else:
            frames.append(VpdqFrame(n, q, h, ms / 1000))
    return frames, cropped, duration


@dataclass(frozen=True, slots=True)
class VpdqOptions:
    """How to sample. ``interval`` 0 hashes every frame (bank side); the default suits queries.

    ``repeat_distance`` -1 keeps every sampled frame, repeats and all (to compare with the reference).
    """

    interval: float = DEFAULT_INTERVAL
    #: with an interval, decode keyframes only (fast triage; see ``VideoReader.frames``)
    keyframes_only: bool = False
    repeat_distance: int = REPEAT_DISTANCE
    borders: bool = True
    limits: VideoLimits = field(default_factory=VideoLimits)
    threads: int = 1


@dataclass(slots=True)
class VpdqResult:
    """A video's fingerprint and what was learnt while decoding it.

    ``cropped`` holds, for frames where the video's border was found, the hash of the content inside
    it (same numbers and timestamps as in ``frames``). ``partial`` says why the frames cover less
    than the whole file (damaged data, truncation, a limit); ``None`` when they cover all of it.
    """

    frames: list[VpdqFrame]
    cropped: list[VpdqFrame]
    border: Box | None
    duration_s: float
    frame_count: int
    width: int
    height: int
    fps: float | None
    interval: float
    decoded: int
    partial: MediaError | None = None

    @property
    def good_frames(self) -> list[VpdqFrame]:
        """Frames of quality >= 50, the ones matching uses."""
        return [f for f in self.frames if f.quality >= LOW_QUALITY]

    def text(self) -> str:
        return to_text(self.frames)


def result_from_value(value: bytes) -> VpdqResult:
    """A stored or exported vPDQ value (packed bytes) as a query, for matching by hash rather than by
    file. What a value does not record is unknown here: sizes and counts are 0, and ``interval`` 0
    lets matching judge the sampling from the frames' timestamps."""
    frames, cropped, duration = unpack_result(value)
    end = duration if duration is not None else max((f.timestamp for f in frames), default=0.0)
    return VpdqResult(
        frames=frames,
        cropped=cropped,
        border=None,
        duration_s=end,
        frame_count=0,
        width=0,
        height=0,
        fps=None,
        interval=0.0,
        decoded=0,
    )


def _box_key(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Boxes within ~2 % of the frame of each other share a key (encoders jitter dark edges)."""
    qh, qw = max(1.0, 0.02 * height), max(1.0, 0.02 * width)
    return (round(box.top / qh), round(box.bottom / qh), round(box.left / qw), round(box.right / qw))


def vpdq_from_video(
    source: str | os.PathLike[str] | bytes,
    *,
    media_type: MediaType | None = None,
    options: VpdqOptions | None = None,
) -> VpdqResult:
    """Fingerprint a video (a path or its bytes). Raises :class:`MediaError` when nothing decodes;
    damage after some frames decoded is reported in ``partial`` instead."""
    opts = options or VpdqOptions()
    kept: list[VpdqFrame] = []
    crops: list[tuple[int, tuple[int, int, int, int], Box, VpdqFrame]] = []  # (index in kept, key, box, hash)
    last: VpdqFrame | None = None
    with VideoReader(source, media_type=media_type, limits=opts.limits, threads=opts.threads) as reader:
        info = reader.info
        width = height = 0
        for frame in reader.frames(interval=opts.interval, keyframes_only=opts.keyframes_only):
            height, width = frame.luma.shape
            result = pdq_from_luma(frame.luma)
            vf = VpdqFrame(frame.number, result.quality, result.hash, round(frame.timestamp, 3))
            if last is not None and opts.repeat_distance >= 0:
                d = hamming(vf.hash, last.hash)
                if frame.extra:
                    drop = d < SCENE_CUT_DISTANCE  # an in-between keyframe counts only at a scene cut
                else:
                    # a repeat, or another frame in a run of unusable (flat or dark) frames
                    drop = d <= opts.repeat_distance or (
                        vf.quality < LOW_QUALITY and last.quality < LOW_QUALITY
                    )
                if drop:
                    continue
            kept.append(vf)
            last = vf
            if opts.borders and vf.quality >= LOW_QUALITY:
                box = find_border(frame.luma)
                if box is not None:
                    inner = pdq_from_luma(box.crop(frame.luma))
                    cropped = VpdqFrame(vf.number, inner.quality, inner.hash, vf.timestamp)
                    crops.append((len(kept) - 1, _box_key(box, width, height), box, cropped))
        stats = reader.stats
        partial = stats.partial
    border: Box | None = None
    cropped_frames: list[VpdqFrame] = []
    usable = sum(1 for f in kept if f.quality >= LOW_QUALITY)
    if crops and usable:
        key, count = Counter(k for _, k, _, _ in crops).most_common(1)[0]
        if count > BORDER_MAJORITY * usable:
            cropped_frames = [c for _, k, _, c in crops if k == key]
            border = next(b for _, k, b, _ in crops if k == key)
    return VpdqResult(
        frames=kept,
        cropped=cropped_frames,
        border=border,
        duration_s=round(max(stats.end_time, 0.0), 3),
        frame_count=stats.packets,
        width=width or info.width,
        height=height or info.height,
        fps=info.fps,
        interval=opts.interval,
        decoded=stats.decoded,
        partial=partial,
    )


def _bag(
    frames: Sequence[VpdqFrame], cropped: Sequence[VpdqFrame], min_quality: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(hash words, the usable frame each row belongs to, usable frames) of one side: a frame's
    border-cropped hash is a second row for the same frame."""
    usable = [f for f in frames if f.quality >= min_quality]
    row_of = {f.number: i for i, f in enumerate(usable)}
    rows = list(range(len(usable)))
    hashes = [f.hash for f in usable]
    for c in cropped:
        if c.quality >= min_quality and c.number in row_of:
            rows.append(row_of[c.number])
            hashes.append(c.hash)
    words = np.frombuffer(b"".join(hashes), np.uint8).reshape(-1, 32).view(">u8")
    return words, np.asarray(rows, np.int64), len(usable)


def bag_similarity(
    a: Sequence[VpdqFrame],
    b: Sequence[VpdqFrame],
    *,
    threshold: int = MATCH_THRESHOLD,
    min_quality: int = LOW_QUALITY,
    cropped_a: Sequence[VpdqFrame] = (),
    cropped_b: Sequence[VpdqFrame] = (),
) -> tuple[float, float]:
    """(share of ``a``'s usable frames within ``threshold`` of some frame of ``b``, and vice versa).

    A frame's border-cropped hash (``cropped_a``/``cropped_b``) counts as that frame too, so a
    letterboxed copy compares with its original as the bank matcher sees them. Brute force over two
    videos' frames, for comparing two fingerprints directly; matching against banks goes through
    :mod:`takeback.matching.video` and the PDQ index instead.
    """
    wa, rows_a, na = _bag(a, cropped_a, min_quality)
    wb, rows_b, nb = _bag(b, cropped_b, min_quality)
    if not na or not nb:
        return 0.0, 0.0
    dist = np.bitwise_count(wa[:, None, :] ^ wb[None, :, :]).sum(axis=2)
    close = dist <= threshold
    hit_a = np.unique(rows_a[close.any(axis=1)]).size
    hit_b = np.unique(rows_b[close.any(axis=0)]).size
    return hit_a / na, hit_b / nb


class VpdqSignal(SignalType):
    """vPDQ video fingerprint: PDQ hashes of sampled frames, compared as bags of frame hashes.

    The value's text form is the reference's ``frame,quality,hash,timestamp`` lines; inside it is
    packed to 41 bytes a frame. Frames of quality below 50 are kept (the reference keeps them) but
    never matched. ``distance`` is ``100 - min(share of a in b, share of b in a)`` in percent, so the
    default threshold of 20 is the reference's "80 % of the query and 80 % of the target".
    Each frame hash is a PDQ hash, so frames go into the same Hamming index as photos.
    """

    name = "vpdq"
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.VIDEO})
    index_kind = IndexKind.HAMMING256
    bag_of_frames = True
    default_threshold = 20
    size = _PACK.size  # per frame
    frame_threshold = MATCH_THRESHOLD
    examples = (
        "0,100,b4ad26b96d18d2491a79f80f07f2c9936fe6083dfb6983d8a4a36db40034df54,0.000\n"
        "30,100,a4ad66b9cf58d3691a7bf80f07f2e9036fe6082dfb4983d8a4a36da40034de54,1.000\n",
    )

    def validate(self, value: str, *, field: str | None = None) -> bytes:
        label = field or self.name
        if not isinstance(value, str) or not value.strip():
            raise SignalError(f"{label}: a vPDQ value is one or more frame,quality,hash,timestamp lines.")
        text = value.strip()
        if "," not in text:
            # The packed storage form as hex (what exports carry: lossless, with the border-cropped
            # frames and the duration that the text form has no place for).
            return self._from_hex(text, label)
        try:
            frames = parse_text(text.replace(";", "\n"))
        except SignalError as exc:
            raise SignalError(f"{label}: {exc.message}") from None
        if not frames:
            raise SignalError(f"{label}: a vPDQ value needs at least one frame line.")
        return pack(frames)

    def _from_hex(self, text: str, label: str) -> bytes:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise SignalError(
                f"{label}: give frame,quality,hash,timestamp lines or the packed value in hex."
            ) from None
        if not self.value_ok(raw):
            raise SignalError(
                f"{label}: a packed vPDQ value is a multiple of {self.size} bytes; got {len(raw)}."
            )
        frames, cropped, _ = unpack_result(raw)
        if not frames or any(f.quality > 100 for f in [*frames, *cropped]):
            raise SignalError(f"{label}: not a packed vPDQ value (no frames, or a quality over 100).")
        return raw

    def format(self, value: bytes) -> str:
        """The reference text form of the frames (border-cropped frames and duration are not in it;
        ``value.hex()`` is the lossless form, which :meth:`validate` also accepts)."""
        return to_text(unpack(value))

    def value_ok(self, value: bytes) -> bool:
        """Whether stored bytes are a packed vPDQ value (any number of 41-byte frame records)."""
        return bool(value) and len(value) % self.size == 0

    def distance(self, a: bytes, b: bytes) -> int:
        frames_a, cropped_a, _ = unpack_result(a)
        frames_b, cropped_b, _ = unpack_result(b)
        share_a, share_b = bag_similarity(frames_a, frames_b, cropped_a=cropped_a, cropped_b=cropped_b)
        return 100 - int(min(share_a, share_b) * 100)
