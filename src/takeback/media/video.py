"""Safe video decoding with PyAV: limits, upright full-range luma, and sampling that decodes only what
it needs.

Nothing here knows about hashes: :mod:`takeback.signals.vpdq` turns the frames into fingerprints.

Why the sampler is more than "decode everything, keep one frame a second": decoding is nearly all
of the cost (a 1080p H.264 frame takes 4-20 ms on one core, hashing it 3 ms). To sample at an
interval we buffer one GOP (keyframe to keyframe) of *packets*, which costs nothing to read, and
then decode only the frames that serve a sampling window:

- a window that holds a keyframe is served by the keyframe alone (one intra frame, no references);
- otherwise the decoder runs from the keyframe with ``skip_frame=NONREF`` (B-frames nobody refers
  to are skipped, exactly: the frames it does output are bit-identical) up to the last window the
  GOP must serve, then with ``skip_frame=NONKEY`` for the rest of the GOP;
- a window that the *next* keyframe will serve is left to it.

So with keyframes at least once per interval nothing but keyframes is decoded. Keyframes that fall
between windows are decoded too when keyframes are sparse: encoders place them at scene cuts.

Why full-range luma through libswscale: PDQ's quality score is computed from luma gradients, and
video's limited-range Y (16-235) would lower it by 14 %; one C pass gives full-range 8-bit luma for
every pixel format (planar YUV, 10-bit, RGB, palette) and, for frames above 2560 pixels, reduces
them by an exact factor at the same time (measured: within 8 bits of the full-size hash on 4K and 8K
frames, so inside PDQ's compatibility rule; 1080p and below are hashed at full size).

Security: the container format is chosen from the sniffed content type (never probed), so an HLS
playlist or concat script renamed ``.mp4`` cannot make FFmpeg open other files or URLs; files are
read through a Python file object and nested opens are limited to no protocol at all.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, TYPE_CHECKING, Any

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageSequence

from takeback.media import errors as codes
from takeback.media.decode import decode_pil
from takeback.media.errors import MediaError
from takeback.media.types import HEAD_BYTES, Kind, MediaType, sniff

if TYPE_CHECKING:
    from takeback.config import Settings

#: FFmpeg demuxer for each sniffed MIME type.
_DEMUXERS: dict[str, str] = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/x-m4v": "mov",
    "video/3gpp": "mov",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
    "video/x-flv": "flv",
    "video/x-ms-asf": "asf",
    "video/mp2t": "mpegts",
    "video/mpeg": "mpeg",
    "image/gif": "gif",
}
#: Animated images decoded with Pillow: FFmpeg 8's WebP decoder rejects animated (ANIM) files.
_PILLOW_ANIMATED = {"image/webp"}

#: Frames larger than this on their long side are reduced by a power of two before hashing.
MAX_HASH_SIDE = 2560
#: Packets buffered per GOP before decoding part of it (bounds memory on keyframe-less streams).
_MAX_GOP_PACKETS = 1800
_MAX_GOP_BYTES = 96 * 1024 * 1024
_IO_BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Refuse videos whose headers claim absurd sizes, and stop decoding at these bounds."""

    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = 8192 * 4352  # 8K UHD and a little margin
    max_duration_s: float = 6 * 3600.0
    max_frames: int = 2_000_000  # 6 hours at ~90 fps

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        """Limits from ``TAKEBACK_MAX_VIDEO_*`` settings."""
        return cls(
            max_width=settings.max_video_width,
            max_height=settings.max_video_height,
            max_pixels=settings.max_video_pixels,
            max_duration_s=settings.max_video_seconds,
            max_frames=settings.max_video_frames,
        )


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the headers say (before decoding). ``width``/``height`` are as coded: frames come out
    upright (a display-matrix rotation is applied to each frame's luma)."""

    mime: str
    container: str
    codec: str
    width: int
    height: int
    fps: float | None
    duration_s: float | None
    frame_count: int | None


@dataclass(frozen=True, slots=True)
class LumaFrame:
    """One decoded frame: upright full-range luma, its presentation number and time.

    ``luma`` is 8-bit from libswscale for videos (and GIF), float32 for animated WebP, whose frames
    Pillow decodes (:func:`takeback.media.decode_pil`, the stills' luma).

    ``extra``: a keyframe taken between sampling windows (a likely scene cut), not a window's frame.
    """

    number: int
    timestamp: float
    luma: np.ndarray
    keyframe: bool
    extra: bool = False


@dataclass(slots=True)
class DecodeStats:
    """Filled in while frames are read; final once the frame iterator is exhausted."""

    packets: int = 0  # video packets read (about the number of frames in the stream)
    decoded: int = 0  # frames the decoder produced
    bad_packets: int = 0  # packets the decoder rejected
    corrupt_frames: int = 0  # frames the decoder flagged as corrupt (not yielded)
    end_time: float = 0.0  # presentation time just after the last frame seen
    stopped: MediaError | None = None  # why reading ended early, if it did
    _errors: list[str] = field(default_factory=list)

    @property
    def partial(self) -> MediaError | None:
        """Why the frames cover less than the whole video (``None`` when they cover all of it)."""
        if self.stopped is not None:
            return self.stopped
        bad = self.bad_packets + self.corrupt_frames
        if bad:
            return MediaError(
                f"{bad:,} of {max(self.packets, bad):,} frames could not be decoded (damaged data, or "
                "predicted from damaged frames); the frames that decoded cleanly were hashed.",
                code=codes.CORRUPT_FRAMES,
            )
        return None


def _frac(value: Any) -> Fraction | None:
    if value is None:
        return None
    try:
        f = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def _reduction(width: int, height: int) -> int:
    k = 1
    while max(width, height) / k > MAX_HASH_SIDE:
        k *= 2
    return k


def frame_luma(
    frame: av.VideoFrame, rotation: int = 0, reformatter: VideoReformatter | None = None
) -> np.ndarray:
    """Upright full-range 8-bit luma of a decoded frame (reduced by 2^n above ``MAX_HASH_SIDE``).

    Pass one ``reformatter`` for all frames of a video: it keeps libswscale's context, whose set-up
    otherwise costs more than the conversion (4.6 against 0.9 ms per 1080p frame).
    """
    k = _reduction(frame.width, frame.height)
    gray = (
        (reformatter or VideoReformatter())
        .reformat(
            frame,
            width=max(1, frame.width // k),
            height=max(1, frame.height // k),
            format="gray",
            src_color_range=frame.color_range,
            dst_color_range="JPEG",
            interpolation="AREA" if k > 1 else None,
            threads=1,
        )
        .to_ndarray()
    )
    turns = (rotation // 90) % 4
    luma = np.rot90(gray, k=turns) if turns else gray
    return np.ascontiguousarray(luma, dtype=np.uint8)


def _sniff_source(source: str | os.PathLike[str] | bytes) -> MediaType:
    if isinstance(source, bytes | bytearray):
        return sniff(bytes(source[:HEAD_BYTES]))
    with open(source, "rb") as fh:
        return sniff(fh.read(HEAD_BYTES))


def _mp4_cut_short(fh: IO[bytes]) -> bool:
    """Whether an MP4/MOV's top-level boxes run past the end of the file with no ``moov`` read."""
    try:
        end = fh.seek(0, io.SEEK_END)
        pos, boxes = 0, 0
        while pos + 8 <= end and boxes < 10_000:
            fh.seek(pos)
            head = fh.read(16)
            size, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if size == 1 and len(head) >= 16:
                size = int.from_bytes(head[8:16], "big")
            elif size == 0:
                size = end - pos
            if not all(32 <= c < 127 for c in kind):
                return False  # not a box at all: damaged or not an MP4, rather than cut short
            if kind == b"moov" and pos + size <= end:
                return False
            if size < 8 or pos + size > end:
                return True
            pos += size
            boxes += 1
        return pos < end or boxes > 0
    except OSError:
        return False


class VideoReader:
    """An open video: headers checked against limits; frames come from :meth:`frames`.

    Use as a context manager. Raises :class:`MediaError` (stable codes in ``media.errors``) for a
    file that is not a decodable video; damage found while decoding is reported in :attr:`stats`.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        media_type: MediaType | None = None,
        limits: VideoLimits | None = None,
        threads: int = 1,
    ) -> None:
        self.limits = limits or VideoLimits()
        self.stats = DecodeStats()
        self._threads = max(1, threads)
        self._fh: IO[bytes] | None = None
        self._container: Any = None
        self._pil: Image.Image | None = None
        mt = media_type or _sniff_source(source)
        self.media_type = mt
        try:
            if mt.mime in _PILLOW_ANIMATED:
                self.info = self._open_pillow(source, mt)
            else:
                self.info = self._open_av(source, mt)
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------------------------
    def _open_file(self, source: str | os.PathLike[str] | bytes) -> IO[bytes]:
        if isinstance(source, bytes | bytearray):
            return io.BytesIO(bytes(source))
        return open(source, "rb", buffering=_IO_BUFFER)

    def _open_av(self, source: str | os.PathLike[str] | bytes, mt: MediaType) -> VideoInfo:
        demuxer = _DEMUXERS.get(mt.mime)
        if demuxer is None:
            what = "an image" if mt.kind is Kind.IMAGE else mt.mime
            raise MediaError(
                f"Not a video this tool can decode (the content looks like {what}).",
                code=codes.UNSUPPORTED_TYPE,
            )
        self._fh = self._open_file(source)
        try:
            self._container = av.open(
                self._fh,
                mode="r",
                format=demuxer,
                options={"protocol_whitelist": "none", "enable_drefs": "0"},
                buffer_size=_IO_BUFFER,
                metadata_errors="ignore",
            )
        except av.error.FFmpegError:
            raise self._open_error(mt, demuxer) from None
        streams = [
            s
            for s in self._container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not streams:
            audio = bool(self._container.streams.audio)
            raise MediaError(
                "The file has no video stream"
                + (" (it holds audio only)" if audio else "")
                + "; there are no frames to fingerprint.",
                code=codes.NO_VIDEO_STREAM,
            )
        stream = max(streams, key=lambda s: (s.codec_context.width * s.codec_context.height, -s.index))
        self._stream = stream
        cc = stream.codec_context
        cc.thread_count = self._threads
        cc.thread_type = "FRAME" if self._threads > 1 else "NONE"
        tb = _frac(stream.time_base) or Fraction(1, 90000)
        self._tb = tb
        self._start = stream.start_time if stream.start_time is not None else None
        fps = _frac(stream.average_rate) or _frac(stream.guessed_rate) or _frac(stream.base_rate)
        self._frame_dur = float(1 / fps) if fps else 1 / 30
        duration: float | None = None
        if stream.duration is not None and stream.duration > 0:
            duration = float(stream.duration * tb)
        elif self._container.duration is not None and self._container.duration > 0:
            duration = self._container.duration / 1_000_000
        width, height = cc.width, cc.height
        info = VideoInfo(
            mime=mt.mime,
            container=demuxer,
            codec=cc.name,
            width=width,
            height=height,
            fps=float(fps) if fps else None,
            duration_s=duration,
            frame_count=int(stream.frames) if stream.frames else None,
        )
        self._check_size(width, height, declared=True)
        self._check_length(duration, info.frame_count)
        return info

    def _open_error(self, mt: MediaType, demuxer: str) -> MediaError:
        if demuxer == "mov" and self._fh is not None and _mp4_cut_short(self._fh):
            return MediaError(
                f"The {mt.mime} file is truncated: it ends inside its data and its index (moov) is "
                "missing, so no frame can be located (the download or copy stopped early).",
                code=codes.TRUNCATED_VIDEO,
            )
        return MediaError(
            f"The content starts like {mt.mime} but is not a readable video.", code=codes.CORRUPT_VIDEO
        )

    def _open_pillow(self, source: str | os.PathLike[str] | bytes, mt: MediaType) -> VideoInfo:
        self._fh = self._open_file(source)
        try:
            im = Image.open(self._fh, formats=["WEBP"])
            width, height = im.size
            n = int(getattr(im, "n_frames", 1) or 1)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise MediaError(
                f"The content starts like {mt.mime} but could not be decoded: {exc}.",
                code=codes.CORRUPT_VIDEO,
            ) from None
        self._pil = im
        self._check_size(width, height, declared=True)
        self._check_length(None, n)
        self._frame_dur = 0.1
        return VideoInfo(mt.mime, "webp", "webp", width, height, None, None, n)

    def _check_size(self, width: int, height: int, *, declared: bool) -> None:
        lim = self.limits
        if width > lim.max_width or height > lim.max_height or width * height > lim.max_pixels:
            said = "declares" if declared else "has"
            raise MediaError(
                f"The video {said} {width:,} x {height:,} pixels per frame, over the limit of "
                f"{lim.max_width:,} x {lim.max_height:,} ({lim.max_pixels:,} pixels; "
                "TAKEBACK_MAX_VIDEO_WIDTH/_HEIGHT/_PIXELS); not decoded.",
                code=codes.VIDEO_TOO_LARGE,
            )

    def _check_length(self, duration: float | None, frames: int | None) -> None:
        lim = self.limits
        if duration is not None and duration > lim.max_duration_s:
            raise MediaError(
                f"The video declares {duration:,.0f} s, over the limit of {lim.max_duration_s:,.0f} s "
                "(TAKEBACK_MAX_VIDEO_SECONDS); not decoded.",
                code=codes.VIDEO_TOO_LONG,
            )
        if frames is not None and frames > lim.max_frames:
            raise MediaError(
                f"The video declares {frames:,} frames, over the limit of {lim.max_frames:,} "
                "(TAKEBACK_MAX_VIDEO_FRAMES); not decoded.",
                code=codes.VIDEO_TOO_LONG,
            )

    # --- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._pil is not None:
            self._pil.close()
            self._pil = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- frames ------------------------------------------------------------------------------
    def frames(self, *, interval: float = 0.0, keyframes_only: bool = False) -> Iterator[LumaFrame]:
        """Frames in presentation order: every frame (``interval`` 0) or about one per ``interval``
        seconds (the first decodable frame of each window) plus keyframes between windows.

        ``keyframes_only`` (with an interval): never decode a predicted frame. Windows without a
        keyframe go unsampled, so on long-GOP streams this takes fewer frames than one per interval,
        for a fraction of the decoding (a triage pass; banks store every frame, so any frame matches).

        Decoding problems do not raise: they are counted in :attr:`stats`, whose ``partial`` says
        what the frames do not cover.
        """
        if self._pil is not None:
            yield from self._pillow_frames()
            return
        if self._container is None:
            raise RuntimeError("the video is closed")
        sampler = _Sampler(self, interval, keyframes_only=keyframes_only)
        clean = 0
        for frame in sampler.run():
            clean += 1
            yield frame
        stats, declared = self.stats, self.info.duration_s
        if (
            stats.stopped is None
            and declared is not None
            and stats.end_time < declared - max(1.0, 0.02 * declared)
        ):
            stats.stopped = MediaError(
                f"The video ends at {stats.end_time:.1f} s although it declares {declared:.1f} s "
                "(the file is truncated); the frames up to there were hashed.",
                code=codes.TRUNCATED_VIDEO,
            )
        if clean:
            return
        if stats.stopped is not None and stats.stopped.code == codes.VIDEO_TOO_LARGE:
            raise stats.stopped
        if stats.packets == 0:
            raise MediaError("The video contains no frames.", code=codes.NO_FRAMES)
        if stats.stopped is not None and stats.stopped.code == codes.TRUNCATED_VIDEO:
            raise MediaError(
                f"The video is truncated: it stops at {stats.end_time:.1f} s"
                + (f" of {declared:.1f} s" if declared else "")
                + " and not one frame before that decodes.",
                code=codes.TRUNCATED_VIDEO,
            )
        raise MediaError(
            f"None of the video's {stats.packets:,} frames could be decoded (damaged data).",
            code=codes.CORRUPT_VIDEO,
        )

    def _pillow_frames(self) -> Iterator[LumaFrame]:
        assert self._pil is not None
        t = 0.0
        try:
            for i, frame in enumerate(ImageSequence.Iterator(self._pil)):
                self.stats.packets += 1
                luma = decode_pil(frame.convert("RGB"), want="luma")
                self.stats.decoded += 1
                yield LumaFrame(number=i, timestamp=round(t, 6), luma=luma, keyframe=True)
                t += max(int(frame.info.get("duration", 100) or 100), 10) / 1000
        except (OSError, ValueError, EOFError) as exc:
            self.stats.stopped = MediaError(
                f"The animation is damaged after frame {self.stats.decoded}: {exc}.",
                code=codes.TRUNCATED_VIDEO,
            )
        self.stats.end_time = t
        if self.stats.decoded == 0:
            raise MediaError("The animation has no decodable frames.", code=codes.CORRUPT_VIDEO)


class _Sampler:
    """GOP-buffered demux + selective decode (see the module docstring)."""

    def __init__(self, reader: VideoReader, interval: float, *, keyframes_only: bool = False) -> None:
        self.r = reader
        self.stream = reader._stream
        self.cc = self.stream.codec_context
        self.interval = max(0.0, float(interval))
        self.every = self.interval <= 0
        self.keyframes_only = keyframes_only and not self.every
        self.served: set[int] = set()
        self.numbers: dict[int, int] = {}  # pts -> presentation number, last two GOPs
        self.prev_numbers: dict[int, int] = {}
        self.base = 0  # packets in earlier GOPs
        self.last_key_time: float | None = None
        self._synthetic = 0
        self.reformatter = VideoReformatter()
        self.tainted = False  # a frame since the last keyframe was damaged

    # time of a packet/frame pts, seconds from the stream start
    def time(self, pts: int) -> float:
        start = self.r._start or 0
        return float((pts - start) * self.r._tb)

    def _pts(self, pkt: Any) -> int:
        if pkt.pts is not None:
            return int(pkt.pts)
        if pkt.dts is not None:
            return int(pkt.dts)
        self._synthetic += 1  # no timestamps at all: number the packets at the nominal rate
        return round(self._synthetic * self.r._frame_dur / float(self.r._tb))

    def _skip(self, mode: str) -> None:
        if self.cc.skip_frame != mode:
            self.cc.skip_frame = mode

    def run(self) -> Iterator[LumaFrame]:
        stats, limits = self.r.stats, self.r.limits
        gop: list[tuple[Any, int]] = []
        gop_bytes = 0
        try:
            for pkt in self.r._container.demux(self.stream):
                if pkt.size == 0 and pkt.pts is None:
                    continue  # the demuxer's end-of-stream marker
                pts = self._pts(pkt)
                t = self.time(pts)
                stats.packets += 1
                dur = float(pkt.duration * self.r._tb) if pkt.duration else self.r._frame_dur
                stats.end_time = max(stats.end_time, t + dur)
                if stats.packets > limits.max_frames or t > limits.max_duration_s:
                    stats.stopped = MediaError(
                        f"The video is longer than the limit ({limits.max_duration_s:,.0f} s or "
                        f"{limits.max_frames:,} frames; TAKEBACK_MAX_VIDEO_SECONDS/_FRAMES); the frames "
                        "up to there were hashed.",
                        code=codes.VIDEO_TOO_LONG,
                    )
                    stats.packets -= 1
                    break
                if pkt.is_keyframe and gop:
                    yield from self._process(gop, next_key=t)
                    gop, gop_bytes = [], 0
                gop.append((pkt, pts))
                gop_bytes += pkt.size
                if len(gop) >= _MAX_GOP_PACKETS or gop_bytes >= _MAX_GOP_BYTES:
                    yield from self._process(gop, next_key=None, more=True)
                    gop, gop_bytes = [], 0
        except av.error.FFmpegError as exc:
            # The container itself is damaged past this point (e.g. a truncated mdat).
            stats.stopped = MediaError(
                f"The video's data is damaged or cut short after {stats.end_time:.1f} s ({exc.strerror}); "
                "the frames up to there were hashed.",
                code=codes.TRUNCATED_VIDEO,
            )
        if gop:
            yield from self._process(gop, next_key=None)
        self._skip("DEFAULT")
        yield from self._decode(None, {})

    def _process(
        self, gop: list[tuple[Any, int]], *, next_key: float | None, more: bool = False
    ) -> Iterator[LumaFrame]:
        """Decode what this GOP must contribute. ``more``: the GOP continues in the next call."""
        self.prev_numbers, self.numbers = self.numbers, {}
        for rank, pts in enumerate(sorted(p for _, p in gop)):
            self.numbers[pts] = self.base + rank
        self.base += len(gop)
        first_pkt, first_pts = gop[0]
        is_key = bool(first_pkt.is_keyframe)
        if self.every:
            self._skip("DEFAULT")
            for pkt, _ in gop:
                yield from self._decode(pkt, {})
            return
        iv = self.interval
        # Earliest packet time in each window of this GOP.
        firsts: dict[int, float] = {}
        for _, pts in gop:
            t = self.time(pts)
            w = math.floor(t / iv)
            if w not in firsts or t < firsts[w]:
                firsts[w] = t
        key_t = self.time(first_pts)
        key_w = math.floor(key_t / iv) if is_key else None
        next_w = math.floor(next_key / iv) if next_key is not None else None
        need = [t for w, t in firsts.items() if w not in self.served and w != key_w and (more or w != next_w)]
        if self.keyframes_only:
            need, more = [], False
        t_last = max(need) if need else None
        extra_key = False
        if is_key:
            gap = key_t - self.last_key_time if self.last_key_time is not None else math.inf
            extra_key = gap >= iv / 4
            self.last_key_time = key_t
        decode_key = t_last is not None or more or (is_key and (key_w not in self.served or extra_key))
        state = {"t_last": t_last, "more": more, "extra_key": extra_key}
        for i, (pkt, _) in enumerate(gop):
            if i == 0:
                self._skip("DEFAULT" if decode_key else "ALL")
            elif state["t_last"] is None and not more:
                self._skip("NONKEY")
            else:
                self._skip("NONREF")
            yield from self._decode(pkt, state)

    def _decode(self, pkt: Any, state: dict[str, Any]) -> Iterator[LumaFrame]:
        stats = self.r.stats
        try:
            frames = self.stream.decode(pkt)
        except av.error.FFmpegError:
            if pkt is not None:
                stats.bad_packets += 1
                self.tainted = True
            return
        for frame in frames:
            stats.decoded += 1
            if frame.key_frame and not frame.is_corrupt:
                self.tainted = False
            if frame.is_corrupt or self.tainted:
                # Damaged, or predicted from damaged frames: the decoder conceals the damage and
                # carries on, but the picture is garbage (measured: 70-100 bits from the true hash)
                # until the next keyframe resets the references.
                stats.corrupt_frames += 1
                self.tainted = True
                continue
            if frame.width != self.r.info.width or frame.height != self.r.info.height:
                try:
                    self.r._check_size(frame.width, frame.height, declared=False)
                except MediaError as exc:
                    stats.stopped = exc
                    return
            pts = frame.pts if frame.pts is not None else None
            t = self.time(pts) if pts is not None else stats.end_time
            number = self.numbers.get(pts, self.prev_numbers.get(pts)) if pts is not None else None
            if number is None:
                number = max(0, round(t / self.r._frame_dur))
            keyframe = bool(frame.key_frame)
            extra = False
            if not self.every:
                w = math.floor(t / self.interval)
                t_last = state.get("t_last")
                if t_last is not None and t >= t_last and not state.get("more"):
                    state["t_last"] = None
                if w in self.served:
                    if not (keyframe and state.get("extra_key")):
                        continue
                    extra = True
                self.served.add(w)
            luma = frame_luma(frame, frame.rotation or 0, self.reformatter)
            yield LumaFrame(number=number, timestamp=round(t, 6), luma=luma, keyframe=keyframe, extra=extra)
