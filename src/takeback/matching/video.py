"""Video matching: a query video's frame hashes against bank videos' frame hashes, through the exact
PDQ index (no brute-force loop over videos).

Scores, as in the reference vPDQ matcher, for each bank video that any query frame hit:

- ``query_share``: share of the query's usable (quality >= 50) frames within the distance of some
  frame of that video;
- ``coverage``: share of the bank video's usable *time* covered by the frames that were hit.

Why time and not a frame count for coverage: banks store every *distinct* frame (see
:mod:`takeback.signals.vpdq`), densely in motion and once per still shot, while a query samples
about one frame a second. Each bank frame stands for the time until the next stored frame; a hit
covers that span, widened by half the query's sampling gap on each side (the query cannot say more
finely where it matched). A full copy then covers ~100 % whatever the sampling on either side, and a
5-second clip of a 22-second video ~25 %.

A *match* passes both thresholds (defaults 80 % / 80 %, as in the reference). Partial matches are
reported too, because a clip cut from a known video is as important as the whole: ``clip`` (the
query is inside the bank video: query share passes, coverage does not) and ``contains`` (the bank
video is inside a longer query, e.g. a compilation: coverage passes, query share does not).

Ids: :class:`FrameTable` maps the PDQ index's ids back to (video, frame). The banks layer can key
frames by its own row ids (``FrameTable.add(..., ids=...)``); :class:`VideoIndex` bundles a table
and an index with ids it assigns itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from takeback.index import PdqIndex
from takeback.signals.pdq import LOW_QUALITY, MATCH_THRESHOLD
from takeback.signals.vpdq import VpdqFrame, VpdqResult

#: Encoded frame ids: ``video_id << FRAME_BITS | k`` (< 16.7 M stored frames per video)
FRAME_BITS = 24
DEFAULT_QUERY_SHARE = 0.8
DEFAULT_COVERAGE = 0.8
#: Cap on how far a single query hit may widen into the bank video's timeline.
_MAX_SLACK_S = 2.0


class MatchKind(StrEnum):
    MATCH = "match"  # both thresholds pass
    CLIP = "clip"  # the query is (mostly) inside the bank video
    CONTAINS = "contains"  # the bank video is (mostly) inside the query
    PARTIAL = "partial"  # some frames match; neither threshold passes


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """One bank video the query touched, with the numbers that explain the verdict."""

    video_id: int
    kind: MatchKind
    query_share: float
    coverage: float
    query_frames: int  # usable query frames
    matched_query_frames: int
    matched_video_frames: int
    best_distance: int
    #: where in the query and in the bank video the matching frames lie (seconds)
    query_span: tuple[float, float]
    video_span: tuple[float, float]

    @property
    def is_match(self) -> bool:
        return self.kind is MatchKind.MATCH

    def to_record(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "kind": str(self.kind),
            "query_share": round(self.query_share, 4),
            "coverage": round(self.coverage, 4),
            "query_frames": self.query_frames,
            "matched_query_frames": self.matched_query_frames,
            "matched_video_frames": self.matched_video_frames,
            "best_distance": self.best_distance,
            "query_span": [round(x, 3) for x in self.query_span],
            "video_span": [round(x, 3) for x in self.video_span],
        }


def _spans(frames: Sequence[VpdqFrame], duration: float) -> dict[int, tuple[float, float]]:
    """Frame number -> (start, end): each kept frame stands until the next kept frame."""
    ordered = sorted(frames, key=lambda f: (f.timestamp, f.number))
    out: dict[int, tuple[float, float]] = {}
    for i, f in enumerate(ordered):
        end = ordered[i + 1].timestamp if i + 1 < len(ordered) else max(duration, f.timestamp)
        out[f.number] = (f.timestamp, max(end, f.timestamp))
    return out


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals as sorted, disjoint (starts, ends)."""
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    ends_idx = np.append(idx[1:], s.size) - 1
    return s[idx], run_end[ends_idx]


def _overlap(a_s: np.ndarray, a_e: np.ndarray, b_s: np.ndarray, b_e: np.ndarray) -> float:
    """Total length of the intersection of two unions of disjoint sorted intervals."""
    total, i, j = 0.0, 0, 0
    while i < a_s.size and j < b_s.size:
        lo, hi = max(a_s[i], b_s[j]), min(a_e[i], b_e[j])
        if hi > lo:
            total += hi - lo
        if a_e[i] < b_e[j]:
            i += 1
        else:
            j += 1
    return total


@dataclass(slots=True)
class _Video:
    ids: np.ndarray  # int64 index ids of its frames (full and cropped)
    starts: np.ndarray  # per id
    ends: np.ndarray
    usable_s: np.ndarray  # merged usable spans
    usable_e: np.ndarray
    usable_time: float


class FrameTable:
    """Maps PDQ-index ids to (video, frame span) and knows each video's usable time.

    Any ids work (a sorted id array is rebuilt lazily after changes: ~1.7 s at 10 M frames). With
    ``id_bits``, ids are ``video_id << id_bits | k`` (k = the frame's position among the video's
    usable frames, then its cropped frames), so a lookup needs no global array and changes cost
    only the video's own frames.
    """

    def __init__(self, *, id_bits: int | None = None) -> None:
        self.id_bits = id_bits
        self._videos: dict[int, _Video] = {}
        self._dirty = True
        self._ids = np.empty(0, np.int64)
        self._video = np.empty(0, np.int64)
        self._start = np.empty(0, np.float64)
        self._end = np.empty(0, np.float64)

    def __len__(self) -> int:
        return sum(v.ids.size for v in self._videos.values())

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._videos

    @property
    def videos(self) -> int:
        return len(self._videos)

    def add(
        self,
        video_id: int,
        *,
        frames: Sequence[VpdqFrame],
        ids: Sequence[int] | np.ndarray,
        duration_s: float,
        cropped: Sequence[VpdqFrame] = (),
        cropped_ids: Sequence[int] | np.ndarray = (),
    ) -> None:
        """Register a video's usable frames under the given index ids (replacing any earlier entry).

        ``frames``/``ids`` (and ``cropped``/``cropped_ids``) are parallel; only frames of quality
        >= 50 should be in the index, and only those count here.
        """
        if len(frames) != len(ids) or len(cropped) != len(cropped_ids):
            raise ValueError("frames and ids differ in length")
        spans = _spans(frames, duration_s)
        all_frames = list(frames) + list(cropped)
        all_ids = np.concatenate([np.asarray(ids, np.int64), np.asarray(cropped_ids, np.int64)])
        starts = np.array(
            [spans.get(f.number, (f.timestamp, f.timestamp))[0] for f in all_frames], np.float64
        )
        ends = np.array([spans.get(f.number, (f.timestamp, f.timestamp))[1] for f in all_frames], np.float64)
        usable = np.array([f.quality >= LOW_QUALITY for f in all_frames], dtype=bool)
        us, ue = _merge(starts[usable], ends[usable])
        self._videos[int(video_id)] = _Video(
            ids=all_ids[usable],
            starts=starts[usable],
            ends=ends[usable],
            usable_s=us,
            usable_e=ue,
            usable_time=float((ue - us).sum()),
        )
        self._dirty = True

    def add_many(self, video_ids: np.ndarray, ids: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        """Bulk registration from parallel arrays of usable frames whose spans are already known
        (loading a bank from storage): one entry per distinct video id, replacing earlier ones."""
        video_ids = np.asarray(video_ids, np.int64)
        ids, starts, ends = np.asarray(ids, np.int64), np.asarray(starts, float), np.asarray(ends, float)
        if not video_ids.size:
            return
        order = np.argsort(video_ids, kind="stable")
        video_ids, ids, starts, ends = video_ids[order], ids[order], starts[order], ends[order]
        cuts = np.flatnonzero(np.diff(video_ids)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, video_ids.size], strict=True):
            us, ue = _merge(starts[lo:hi], ends[lo:hi])
            self._videos[int(video_ids[lo])] = _Video(
                ids=ids[lo:hi],
                starts=starts[lo:hi],
                ends=ends[lo:hi],
                usable_s=us,
                usable_e=ue,
                usable_time=float((ue - us).sum()),
            )
        self._dirty = True

    def remove(self, video_id: int) -> np.ndarray:
        """Forget a video; returns its ids so the caller can remove them from the index."""
        video = self._videos.pop(int(video_id), None)
        self._dirty = True
        return video.ids if video is not None else np.empty(0, np.int64)

    def _rebuild(self) -> None:
        if not self._dirty:
            return
        vids = list(self._videos.items())
        if vids:
            ids = np.concatenate([v.ids for _, v in vids])
            video = np.concatenate([np.full(v.ids.size, k, np.int64) for k, v in vids])
            start = np.concatenate([v.starts for _, v in vids])
            end = np.concatenate([v.ends for _, v in vids])
            order = np.argsort(ids, kind="stable")
            self._ids, self._video, self._start, self._end = (
                ids[order],
                video[order],
                start[order],
                end[order],
            )
        else:
            self._ids = np.empty(0, np.int64)
            self._video = np.empty(0, np.int64)
            self._start = self._end = np.empty(0, np.float64)
        self._dirty = False

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(known mask, video ids, span starts, span ends) for index ids (unknown ids masked out)."""
        ids = np.asarray(ids, np.int64)
        if self.id_bits is not None:
            return self._lookup_encoded(ids, self.id_bits)
        self._rebuild()
        if self._ids.size == 0:
            none = np.zeros(ids.size, bool)
            return none, np.zeros(ids.size, np.int64), np.zeros(ids.size), np.zeros(ids.size)
        pos = np.clip(np.searchsorted(self._ids, ids), 0, self._ids.size - 1)
        known = self._ids[pos] == ids
        return known, self._video[pos], self._start[pos], self._end[pos]

    def _lookup_encoded(
        self, ids: np.ndarray, bits: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        vids, ks = ids >> bits, ids & ((1 << bits) - 1)
        known = np.zeros(ids.size, bool)
        start, end = np.zeros(ids.size), np.zeros(ids.size)
        uniq, inverse = np.unique(vids, return_inverse=True)
        for j, vid in enumerate(uniq.tolist()):  # the videos hit: few
            v = self._videos.get(vid)
            if v is None:
                continue
            sel = np.flatnonzero(inverse == j)
            k = ks[sel]
            ok = k < v.ids.size
            sel, k = sel[ok], k[ok]
            ok = v.ids[k] == ids[sel]
            sel, k = sel[ok], k[ok]
            known[sel] = True
            start[sel], end[sel] = v.starts[k], v.ends[k]
        return known, vids, start, end

    def usable(self, video_id: int) -> tuple[np.ndarray, np.ndarray, float]:
        v = self._videos[int(video_id)]
        return v.usable_s, v.usable_e, v.usable_time


def _query_hashes(
    frames: Sequence[VpdqFrame], cropped: Sequence[VpdqFrame]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[VpdqFrame]]:
    """Usable query frames and their hashes (cropped variants point at their full frame's row)."""
    usable = [f for f in frames if f.quality >= LOW_QUALITY]
    row_of = {f.number: i for i, f in enumerate(usable)}
    rows, hashes = [], []
    for i, f in enumerate(usable):
        rows.append(i)
        hashes.append(f.hash)
    for c in cropped:
        if c.quality >= LOW_QUALITY and c.number in row_of:
            rows.append(row_of[c.number])
            hashes.append(c.hash)
    arr = (
        np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32)
        if hashes
        else np.empty((0, 32), np.uint8)
    )
    times = np.array([f.timestamp for f in usable], np.float64)
    return np.asarray(rows, np.int64), arr, times, usable


def _slack(times: np.ndarray, interval: float | None) -> float:
    """Half the query's typical sampling gap: how far one query hit may speak for nearby time."""
    gaps = np.diff(np.sort(times))
    gaps = gaps[gaps > 0]
    typical = float(np.median(gaps)) if gaps.size else 0.0
    if interval:
        typical = max(typical, interval) if typical else interval
    return min(typical / 2, _MAX_SLACK_S)


def match_video(
    query: VpdqResult | Sequence[VpdqFrame],
    *,
    index: PdqIndex,
    table: FrameTable,
    distance: int = MATCH_THRESHOLD,
    query_share: float = DEFAULT_QUERY_SHARE,
    coverage: float = DEFAULT_COVERAGE,
    cropped: Sequence[VpdqFrame] = (),
    interval: float | None = None,
    thresholds: dict[int, int] | None = None,
) -> list[VideoMatch]:
    """Every bank video that some usable query frame matched, best first.

    ``query`` is a :class:`VpdqResult` (its border-cropped hashes are searched too) or plain frames
    (pass ``cropped``/``interval`` yourself). One batched index search for all query hashes; the
    per-video arithmetic is over the hits only. ``thresholds`` (video id -> frame distance, each at
    most ``distance``) applies per-bank thresholds; videos missing from it are out of scope.
    """
    if isinstance(query, VpdqResult):
        frames: Sequence[VpdqFrame] = query.frames
        cropped = query.cropped
        interval = query.interval
    else:
        frames = query
    rows, hashes, times, usable = _query_hashes(frames, cropped)
    n_query = len(usable)
    if n_query == 0 or len(index) == 0:
        return []
    results = index.search_batch(hashes, distance)
    counts = np.fromiter((len(r) for r in results), dtype=np.int64, count=len(results))
    if counts.sum() == 0:
        return []
    hit_ids = np.concatenate([r.ids for r in results]).astype(np.int64)
    hit_dist = np.concatenate([r.distances for r in results]).astype(np.int64)
    hit_row = np.repeat(rows, counts)
    known, video, start, end = table.lookup(hit_ids)
    hit_ids, hit_dist, hit_row = hit_ids[known], hit_dist[known], hit_row[known]
    video, start, end = video[known], start[known], end[known]
    if thresholds is not None:
        keys = np.fromiter(thresholds, dtype=np.int64, count=len(thresholds))
        limits = np.fromiter(thresholds.values(), dtype=np.int64, count=len(thresholds))
        order_k = np.argsort(keys)
        keys, limits = keys[order_k], limits[order_k]
        pos = np.clip(np.searchsorted(keys, video), 0, max(keys.size - 1, 0))
        keep = (keys[pos] == video) & (hit_dist <= limits[pos]) if keys.size else np.zeros(video.size, bool)
        hit_ids, hit_dist, hit_row = hit_ids[keep], hit_dist[keep], hit_row[keep]
        video, start, end = video[keep], start[keep], end[keep]
    slack = _slack(times, interval)
    out: list[VideoMatch] = []
    order = np.argsort(video, kind="stable")
    video, hit_ids, hit_dist, hit_row = video[order], hit_ids[order], hit_dist[order], hit_row[order]
    start, end = start[order], end[order]
    bounds = np.flatnonzero(np.diff(video)) + 1
    for sl in np.split(np.arange(video.size), bounds):
        if sl.size == 0:
            continue
        vid = int(video[sl[0]])
        q_rows = np.unique(hit_row[sl])
        share = q_rows.size / n_query
        us, ue, usable_time = table.usable(vid)
        cs, ce = _merge(start[sl] - slack, end[sl] + slack)
        covered = _overlap(cs, ce, us, ue)
        cover = min(1.0, covered / usable_time) if usable_time > 0 else 1.0
        passes_q, passes_c = share >= query_share, cover >= coverage
        kind = (
            MatchKind.MATCH
            if passes_q and passes_c
            else MatchKind.CLIP
            if passes_q
            else MatchKind.CONTAINS
            if passes_c
            else MatchKind.PARTIAL
        )
        q_times = times[q_rows]
        out.append(
            VideoMatch(
                video_id=vid,
                kind=kind,
                query_share=share,
                coverage=cover,
                query_frames=n_query,
                matched_query_frames=int(q_rows.size),
                matched_video_frames=int(np.unique(hit_ids[sl]).size),
                best_distance=int(hit_dist[sl].min()),
                query_span=(float(q_times.min()), float(q_times.max())),
                video_span=(float(start[sl].min()), float(end[sl].max())),
            )
        )
    rank = {MatchKind.MATCH: 0, MatchKind.CLIP: 1, MatchKind.CONTAINS: 2, MatchKind.PARTIAL: 3}
    out.sort(key=lambda m: (rank[m.kind], -min(m.query_share, m.coverage), -m.query_share, m.video_id))
    return out


class VideoIndex:
    """A PDQ index of bank videos' frame hashes plus the table that maps its ids back to videos.

    For callers without their own id scheme (tests, benchmarks, a standalone matcher). Frame ids
    are ``video_id << FRAME_BITS | k``.
    """

    def __init__(self, index: PdqIndex | None = None) -> None:
        self.index = index if index is not None else PdqIndex()
        self.table = FrameTable(id_bits=FRAME_BITS)

    def __len__(self) -> int:
        return self.table.videos

    def add(self, video_id: int, result: VpdqResult) -> int:
        """Index a video's usable frame hashes (full and border-cropped); returns how many."""
        frames = [f for f in result.frames if f.quality >= LOW_QUALITY]
        cropped = [f for f in result.cropped if f.quality >= LOW_QUALITY]
        n = len(frames) + len(cropped)
        if not 0 <= video_id < 1 << (63 - FRAME_BITS) or n >= 1 << FRAME_BITS:
            raise ValueError("video ids are 0 .. 2**39 - 1, with fewer than 2**24 frames each")
        ids = (np.int64(video_id) << FRAME_BITS) + np.arange(n, dtype=np.int64)
        old = self.table.remove(video_id)
        if old.size:
            self.index.remove(old)
        self.table.add(
            video_id,
            frames=frames,
            ids=ids[: len(frames)],
            duration_s=result.duration_s,
            cropped=cropped,
            cropped_ids=ids[len(frames) :],
        )
        if n:
            hashes = np.frombuffer(b"".join(f.hash for f in frames + cropped), np.uint8).reshape(-1, 32)
            self.index.add(ids, hashes)
        return n

    def remove(self, video_id: int) -> None:
        ids = self.table.remove(video_id)
        if ids.size:
            self.index.remove(ids)

    def match(self, query: VpdqResult, **kwargs: Any) -> list[VideoMatch]:
        return match_video(query, index=self.index, table=self.table, **kwargs)


def compare_videos(
    query: VpdqResult, video: VpdqResult, *, distance: int = MATCH_THRESHOLD
) -> VideoMatch | None:
    """One query video against one other (``/m/compare``), by the same arithmetic as bank matching:
    the query's share, the other's time covered, and the verdict; ``None`` when no frame matched."""
    index = VideoIndex()
    index.add(0, video)
    found = index.match(query, distance=distance)
    return found[0] if found else None
