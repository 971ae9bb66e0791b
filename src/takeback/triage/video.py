"""The scan's one door to video fingerprints (:mod:`takeback.signals.vpdq`).

A small adapter, so the pipeline does not depend on the video package's internals: it returns the
packed frame hashes, their count and the duration, or a per-item error (a bad video never stops a
scan). PyAV is a hard dependency, so vPDQ is always there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from takeback.media import MediaError, MediaType
from takeback.signals import vpdq
from takeback.triage import errors as codes


@dataclass(frozen=True, slots=True)
class VideoPrint:
    packed: bytes | None
    frames: int
    duration_ms: int | None
    width: int | None
    height: int | None
    error: dict[str, str] | None = None
    partial: dict[str, str] | None = None


def failed(error: dict[str, str]) -> VideoPrint:
    return VideoPrint(None, 0, None, None, None, error=error)


def fingerprint_video(source: bytes | str | os.PathLike[str], *, media_type: MediaType | None) -> VideoPrint:
    """vPDQ of a video (bytes or a path); never raises for a bad video."""
    try:
        result = vpdq.vpdq_from_video(source, media_type=media_type)
    except MediaError as exc:
        return failed(exc.to_dict())
    except Exception as exc:  # a decoder bug must not stop a scan
        return failed(
            {"code": codes.ANALYSIS_FAILED, "message": f"Video hashing failed: {type(exc).__name__}."}
        )
    return print_of(result)


def print_of(result: vpdq.VpdqResult) -> VideoPrint:
    """A vPDQ result already computed (``fingerprint_bytes`` hashes a video held in memory) as the
    scan stores it."""
    partial = result.partial.to_dict() if result.partial is not None else None
    return VideoPrint(
        packed=vpdq.pack(result.frames),
        frames=len(result.frames),
        duration_ms=round(result.duration_s * 1000),
        width=result.width or None,
        height=result.height or None,
        partial=partial,
    )


def bank_value(packed: bytes, duration_ms: int | None) -> bytes | None:
    """A stored fingerprint as a bank's ``vpdq`` value (frames plus the duration record), or ``None``
    when there are no frames."""
    frames = vpdq.unpack(packed) if packed else []
    if not frames:
        return None
    duration = None if duration_ms is None else duration_ms / 1000
    return vpdq.pack_value(frames, duration_s=duration)


def unpack(packed: bytes) -> list[vpdq.VpdqFrame]:
    return list(vpdq.unpack(packed)) if packed else []


def bag_similarity(a: bytes, b: bytes) -> tuple[float, float]:
    """Share of each video's usable frames found in the other (0 when either has none)."""
    if not a or not b:
        return 0.0, 0.0
    sa, sb = vpdq.bag_similarity(vpdq.unpack(a), vpdq.unpack(b))
    return float(sa), float(sb)
