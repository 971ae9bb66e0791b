"""What each signal type's index holds in this process: ``GET /m/index/status`` asks it here.

A process follows the change log only when it serves a lookup, so the report catches up first;
otherwise it would describe the index as of its last lookup (size 0 after a fresh start and 16 adds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from takeback.banks.service import live_signal_counts
from takeback.matching.service import Matcher
from takeback.matching.video_banks import VideoMatcher
from takeback.signals import REGISTRY, IndexKind


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """``built_to``: the change-log sequence number the index has applied; ``size``: its entries."""

    built_to: int
    present: bool
    size: int


def index_status(
    matcher: Matcher, video: VideoMatcher, signal_types: Sequence[str]
) -> dict[str, IndexStatus]:
    """Each of ``signal_types`` (takeback names) as this process matches it, caught up with the
    change log: videos in the video matcher, Hamming types in the in-memory index, exact types
    answered by the database's own index (always current: their size is what live banks hold)."""
    matcher.refresh(force=True)
    frames = {t for t in signal_types if REGISTRY[t].bag_of_frames}  # vPDQ: the video matcher
    exact = [t for t in signal_types if t not in frames and REGISTRY[t].index_kind is IndexKind.EXACT]
    with matcher.db.sessionmaker() as s:
        if frames:
            video.refresh(s)
        stored = live_signal_counts(s, signal_types=exact)
    out: dict[str, IndexStatus] = {}
    for name in signal_types:
        if name in frames:  # bank videos, in the video matcher
            out[name] = IndexStatus(built_to=video.watermark, present=True, size=len(video))
        elif name in exact:
            out[name] = IndexStatus(built_to=matcher.watermark, present=True, size=stored.get(name, 0))
        else:
            out[name] = IndexStatus(built_to=matcher.watermark, present=True, size=len(matcher))
    return out
