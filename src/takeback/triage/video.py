"""The scan's one door to video fingerprints (``takeback.signals.vpdq``, from the video issue).

A small adapter, so the pipeline does not depend on the video package's internals: it returns the
packed frame hashes, their count and the duration, or a per-item error. If the video package is not
installed in this build, every video gets ``video_hashing_unavailable`` (its SHA-256/MD5 are still
recorded) instead of the scan failing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from takeback.media import MediaError, MediaType
from takeback.triage import errors as codes

if TYPE_CHECKING:
    from takeback.signals.vpdq import VpdqResult


@dataclass(frozen=True, slots=True)
class VideoPrint:
    packed: bytes | None
    frames: int
    duration_ms: int | None
    width: int | None
    height: int | None
    error: dict[str, str] | None = None
    partial: dict[str, str] | None = None


def _module() -> Any | None:
    try:
        from takeback.signals import vpdq
    except ImportError:
        return None
    return vpdq


def available() -> bool:
    return _module() is not None


def fingerprint_video(source: bytes | str | os.PathLike[str], *, media_type: MediaType | None) -> VideoPrint:
    """vPDQ of a video (bytes or a path); never raises for a bad video."""
    vpdq = _module()
    if vpdq is None:
        return VideoPrint(
            None,
            0,
            None,
            None,
            None,
            error={
                "code": codes.VIDEO_UNAVAILABLE,
                "message": "Video fingerprints (vPDQ) are not available in this installation; SHA-256 and "
                "MD5 were recorded.",
            },
        )
    try:
        result = vpdq.vpdq_from_video(source, media_type=media_type)
    except MediaError as exc:
        return VideoPrint(None, 0, None, None, None, error=exc.to_dict())
    except Exception as exc:  # a decoder bug must not stop a scan
        return VideoPrint(
            None,
            0,
            None,
            None,
            None,
            error={"code": codes.ANALYSIS_FAILED, "message": f"Video hashing failed: {type(exc).__name__}."},
        )
    return print_of(result)


def print_of(result: VpdqResult) -> VideoPrint:
    """A vPDQ result already computed (``fingerprint_bytes`` hashes a video held in memory) as the
    scan stores it."""
    from takeback.signals.vpdq import pack

    partial = result.partial.to_dict() if result.partial is not None else None
    return VideoPrint(
        packed=pack(result.frames),
        frames=len(result.frames),
        duration_ms=round(result.duration_s * 1000),
        width=result.width or None,
        height=result.height or None,
        partial=partial,
    )


def bank_value(packed: bytes, duration_ms: int | None) -> bytes | None:
    """A stored fingerprint as a bank's ``vpdq`` value (frames plus the duration record), or ``None``
    when there are no frames or the video package is not installed."""
    vpdq = _module()
    if vpdq is None or not packed:
        return None
    frames = vpdq.unpack(packed)
    if not frames:
        return None
    duration = None if duration_ms is None else duration_ms / 1000
    value: bytes = vpdq.pack_value(frames, duration_s=duration)
    return value


def unpack(packed: bytes) -> list[Any]:
    vpdq = _module()
    return [] if vpdq is None or not packed else list(vpdq.unpack(packed))


def bag_similarity(a: bytes, b: bytes) -> tuple[float, float]:
    """Share of each video's usable frames found in the other (0 when unavailable)."""
    vpdq = _module()
    if vpdq is None or not a or not b:
        return 0.0, 0.0
    sa, sb = vpdq.bag_similarity(vpdq.unpack(a), vpdq.unpack(b))
    return float(sa), float(sb)
