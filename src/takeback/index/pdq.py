"""Exact Hamming range search over PDQ hashes, with incremental add and remove.

INTERFACE CONTRACT (used by ``takeback.matching``; keep it stable):

- ``PdqIndex()`` empty index.
- ``add(ids, hashes)``: ``ids`` int64 (n,), unique, caller-chosen (content_signal row ids);
  ``hashes`` uint8 (n, 32) raw PDQ bytes (big-endian, as ``bytes.fromhex(hex)``). Re-adding an id
  that is present replaces its hash.
- ``remove(ids)``: ids not present are ignored.
- ``search(query, radius) -> SearchResult``: every stored hash with distance <= radius, no misses.
- ``search_batch(queries, radius) -> list[SearchResult]``: same for a (m, 32) uint8 array.
- ``__len__``, ``__contains__(id)``.
- ``save(path)`` / ``PdqIndex.load(path)``: documented binary format, no pickle, checksummed;
  ``load`` raises ``PdqIndexError`` (code ``index_corrupt``) on any mismatch so the caller rebuilds.
- ``watermark``: an int the owner may set (e.g. the store's change-log sequence the index reflects);
  saved and loaded with the index.

Every change is visible to the very next search (no rebuild step).

Additions beyond the contract: ``PdqIndex.build(ids, hashes)`` (bulk, one segment),
``search_many`` (``search_batch`` as flat arrays), ``compact()``, ``ids()``, ``stats()``;
``load(path, use_mmap=..., verify=...)``. Within one ``add`` call a repeated id keeps its last
hash (as if added one after the other).

HOW IT WORKS. An index is a list of immutable *segments* (``mih.Segment``: multi-index hashing
tables, exact for any radius) plus a small append-only *delta* that is scanned linearly. ``add``
appends to the delta (or, for a bulk add, builds a segment directly); ``remove`` sets tombstones.
Both take a lock for microseconds, so a change is visible to the next search. A full delta is sealed
into a segment; segments are merged log-structured style (a run of newer segments is merged when
together they are at least 1/4 of the one before), in a background thread by default so that an
``add`` never waits for a large rebuild. A merge snapshots tombstones, builds outside the lock, and
re-applies removals that happened meanwhile before it swaps the new segment in.

Searches run concurrently from any number of threads: they snapshot the segment list under the
lock and then read immutable arrays (tombstones flip in place; a search racing a removal may or may
not see it).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from takeback.errors import TakebackError
from takeback.index import mih
from takeback.index.fileformat import IndexFileError, read_index, write_index
from takeback.index.mih import Segment

HASH_BYTES = 32
SEAL_ROWS = 4096  # the delta is scanned linearly (~45 µs at 4096 rows) and sealed beyond this
MERGE_RATIO = 4
DEAD_FRACTION = 0.5  # a segment with more tombstones than this is rebuilt

log = logging.getLogger(__name__)


class PdqIndexError(TakebackError):
    code = "index_error"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Matches of one query: ids and distances, sorted by distance then id."""

    ids: np.ndarray  # int64
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def as_hash_array(hashes: np.ndarray | bytes | list[bytes]) -> np.ndarray:
    """Normalise hashes to a C-contiguous uint8 (n, 32) array."""
    if isinstance(hashes, bytes | bytearray | memoryview):
        arr = np.frombuffer(bytes(hashes), dtype=np.uint8)
    elif isinstance(hashes, list):
        if any(len(h) != HASH_BYTES for h in hashes):
            raise ValueError(f"every PDQ hash must be {HASH_BYTES} bytes")
        arr = np.frombuffer(b"".join(hashes), dtype=np.uint8) if hashes else np.empty(0, np.uint8)
    else:
        arr = np.asarray(hashes)
        if arr.dtype != np.uint8:
            raise ValueError(f"hash arrays must be uint8, got {arr.dtype}")
    if arr.size % HASH_BYTES or (arr.ndim > 1 and arr.shape[-1] != HASH_BYTES):
        raise ValueError(f"PDQ hashes are {HASH_BYTES} bytes each; got an array of shape {arr.shape}")
    return np.ascontiguousarray(arr.reshape(-1, HASH_BYTES))


def _as_ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        raise ValueError(f"ids must be integers, got {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return np.ascontiguousarray(arr.astype(np.int64, copy=False).reshape(-1))


def _check_radius(radius: int) -> int:
    r = int(radius)
    if r != radius or r < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    return r


def _sorted_unique_last(ids: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by id; where an id repeats keep its last occurrence (sequential-add semantics)."""
    if ids.shape[0] > 1 and np.any(ids[1:] <= ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, words = ids[order], words[order]
        dup = ids[1:] == ids[:-1]
        if dup.any():
            keep = np.ones(ids.shape[0], dtype=bool)
            keep[:-1][dup] = False
            ids, words = ids[keep], words[keep]
    return ids, words


class _Delta:
    """Recent adds, in arrival order, scanned linearly. Grows in place; readers use prefix views."""

    def __init__(self, capacity: int = 256) -> None:
        self.ids = np.empty(capacity, dtype=np.int64)
        self.words = np.empty((capacity, mih.HASH_WORDS), dtype=np.uint64)
        self.dead = np.zeros(capacity, dtype=bool)
        self.n = 0
        self.n_dead = 0

    def append(self, ids: np.ndarray, words: np.ndarray) -> None:
        k = ids.shape[0]
        if self.n + k > self.ids.shape[0]:
            cap = max(2 * self.ids.shape[0], self.n + k)
            # new arrays: views held by running searches keep the old ones alive and unchanged
            for name in ("ids", "words", "dead"):
                old = getattr(self, name)
                new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.ids[self.n : self.n + k] = ids
        self.words[self.n : self.n + k] = words
        self.n += k

    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        return self.ids[: self.n], self.words[: self.n], self.dead[: self.n], self.n_dead

    def locate(self, ids: np.ndarray) -> np.ndarray:
        if not self.n or not ids.shape[0]:
            return np.empty(0, dtype=np.intp)
        hit = np.isin(self.ids[: self.n], ids)
        hit &= ~self.dead[: self.n]
        return np.flatnonzero(hit)


class PdqIndex:
    """Exact, incremental PDQ range index (see the module docstring)."""

    def __init__(self, *, background: bool = True) -> None:
        """``background=False`` runs segment merges inline in the adding thread (deterministic)."""
        self._lock = threading.RLock()  # guards the segment list, the delta and counters
        self._merge_lock = threading.Lock()  # one merge at a time
        self._segments: tuple[Segment, ...] = ()
        self._delta = _Delta()
        self._live = 0
        self._background = background
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self.watermark = 0

    # --- construction -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        ids: np.ndarray | list[int],
        hashes: np.ndarray | bytes | list[bytes],
        *,
        watermark: int = 0,
        background: bool = True,
    ) -> PdqIndex:
        """Bulk-load: one segment holding every hash (the fastest way to index millions)."""
        idx = cls(background=background)
        ids_arr, words = idx._normalise(ids, hashes)
        if ids_arr.shape[0]:
            seg = Segment.build(ids_arr, words)
            idx._segments = (seg,)
            idx._live = seg.n
        idx.watermark = watermark
        return idx

    @staticmethod
    def _normalise(ids: Any, hashes: Any) -> tuple[np.ndarray, np.ndarray]:
        ids_arr = _as_ids(ids)
        hashes_arr = as_hash_array(hashes)
        if hashes_arr.shape[0] != ids_arr.shape[0]:
            raise ValueError(f"{ids_arr.shape[0]} ids but {hashes_arr.shape[0]} hashes")
        return _sorted_unique_last(ids_arr, mih.hash_words(hashes_arr))

    # --- contract: size and membership --------------------------------------------------------------
    def __len__(self) -> int:
        return self._live

    def __contains__(self, content_id: object) -> bool:
        if isinstance(content_id, bool) or not isinstance(content_id, int | np.integer):
            return False
        if not np.iinfo(np.int64).min <= int(content_id) <= np.iinfo(np.int64).max:
            return False
        probe = np.array([content_id], dtype=np.int64)
        with self._lock:
            return bool(self._delta.locate(probe).shape[0]) or any(
                seg.locate(probe).shape[0] for seg in self._segments
            )

    def ids(self) -> np.ndarray:
        """Every live id, sorted."""
        with self._lock:
            parts = [seg.live_rows()[0] for seg in self._segments]
            d_ids, _, d_dead, _ = self._delta.view()
            parts.append(d_ids[~d_dead])
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)

    # --- contract: changes ------------------------------------------------------------------------
    def add(self, ids: np.ndarray | list[int], hashes: np.ndarray | bytes | list[bytes]) -> None:
        ids_arr, words = self._normalise(ids, hashes)
        k = ids_arr.shape[0]
        if not k:
            return
        if k >= SEAL_ROWS:  # bulk: build the segment before taking the lock
            seg = Segment.build(ids_arr, words)
            with self._lock:
                self._remove_locked(seg.ids)
                self._segments = (*self._segments, seg)
                self._live += seg.n
        else:
            with self._lock:
                self._remove_locked(ids_arr)
                self._delta.append(ids_arr, words)
                self._live += k
                if self._delta.n < SEAL_ROWS:
                    return
                self._seal_locked()
        self._schedule_merges()

    def remove(self, ids: np.ndarray | list[int]) -> None:
        ids_arr = _as_ids(ids)
        if not ids_arr.shape[0]:
            return
        with self._lock:
            self._remove_locked(np.unique(ids_arr))
            rebuild = any(seg.n_dead > DEAD_FRACTION * seg.n for seg in self._segments)
        if rebuild:
            self._schedule_merges()

    def _remove_locked(self, ids: np.ndarray) -> int:
        removed = 0
        for seg in self._segments:
            rows = seg.locate(ids)
            if rows.shape[0]:
                removed += seg.kill(rows)
        rows = self._delta.locate(ids)
        if rows.shape[0]:
            self._delta.dead[rows] = True
            self._delta.n_dead += int(rows.shape[0])
            removed += int(rows.shape[0])
        self._live -= removed
        return removed

    def _seal_locked(self) -> None:
        """Turn the delta's live rows into a (scanned) segment and start a new delta."""
        ids, words, dead, n_dead = self._delta.view()
        if n_dead:
            ids, words = ids[~dead], words[~dead]
        self._delta = _Delta()
        if ids.shape[0]:
            ids, words = _sorted_unique_last(ids.copy(), words.copy())
            self._segments = (*self._segments, Segment.build(ids, words, widths=()))

    # --- merging ------------------------------------------------------------------------------------
    def _schedule_merges(self) -> None:
        if not self._background:
            while self._merge_step(self._pick_merge):
                pass
            return
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(
                target=_merge_worker,
                args=(weakref.ref(self), self._wake),
                name="pdq-index-merge",
                daemon=True,
            )
            self._worker.start()
        self._wake.set()

    def _pick_merge(self) -> list[Segment]:
        """Log-structured policy: merge the newest run that is >= 1/MERGE_RATIO of its predecessor."""
        segs = self._segments
        if len(segs) > 1:
            i = len(segs) - 1
            total = segs[i].live
            while i > 0 and segs[i - 1].live <= MERGE_RATIO * total:
                i -= 1
                total += segs[i].live
            if i < len(segs) - 1:
                return list(segs[i:])
        return [seg for seg in segs if seg.n_dead > DEAD_FRACTION * seg.n][:1]

    def _merge_step(self, pick: Any) -> bool:
        """Merge the segments ``pick()`` names into one; False when there was nothing to do."""
        with self._merge_lock:
            with self._lock:
                job: list[Segment] = pick()
                if not job:
                    return False
                tombstones = [seg.dead.copy() for seg in job]
                parts = [seg.live_rows() for seg in job]
            ids = np.concatenate([p[0] for p in parts])
            words = np.concatenate([p[1] for p in parts])
            new = Segment.build(ids, words) if ids.shape[0] else None
            with self._lock:
                late = [seg.ids[seg.dead & ~old] for seg, old in zip(job, tombstones, strict=True)]
                late_ids = np.concatenate(late)
                if new is not None and late_ids.shape[0]:
                    new.kill(new.locate(late_ids))
                segs = list(self._segments)
                at = next((i for i, s in enumerate(segs) if s is job[0]), len(segs))
                here = segs[at : at + len(job)]
                if len(here) != len(job) or any(a is not b for a, b in zip(here, job, strict=True)):
                    # only merges replace segments, one at a time, so this is a bug; refusing keeps the
                    # index as it was (still exact) where an assert under ``python -O`` would corrupt it
                    raise PdqIndexError(
                        "A merge of PDQ index segments found them no longer next to each other in the "
                        "index; the index was left as it was.",
                        code="index_merge_conflict",
                    )
                segs[at : at + len(job)] = [new] if new is not None else []
                self._segments = tuple(segs)
            return True

    def compact(self) -> None:
        """Merge everything (delta included) into one segment now; waits for a running merge."""
        with self._lock:
            if self._delta.n:
                self._seal_locked()

        def everything() -> list[Segment]:
            segs = self._segments
            return list(segs) if len(segs) > 1 or any(s.n_dead for s in segs) else []

        self._merge_step(everything)

    # --- contract: search -----------------------------------------------------------------------------
    def _searched(self) -> list[Segment]:
        """A snapshot to search: the segments, and the delta's live prefix as one more (scanned)."""
        with self._lock:
            segments, (d_ids, d_words, d_dead, d_n_dead) = self._segments, self._delta.view()
        out = list(segments)
        if d_n_dead < d_ids.shape[0]:
            out.append(Segment(d_ids, d_words, d_dead, n_dead=d_n_dead))
        return out

    def search(self, query: bytes | np.ndarray, radius: int) -> SearchResult:
        r = _check_radius(radius)
        q = as_hash_array(query)
        if q.shape[0] != 1:
            raise ValueError(f"search takes one hash; got {q.shape[0]} (use search_batch)")
        raw = q.tobytes()
        qwords = mih.hash_words(q)[0]
        qint = int.from_bytes(raw, "big")
        ids_parts, d_parts = [], []
        for seg in self._searched():
            ids, d = seg.search_one(qwords, qint, r)
            if ids.shape[0]:
                ids_parts.append(ids)
                d_parts.append(d)
        if not ids_parts:
            return SearchResult(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))
        ids = np.concatenate(ids_parts) if len(ids_parts) > 1 else ids_parts[0]
        d = np.concatenate(d_parts) if len(d_parts) > 1 else d_parts[0]
        order = np.lexsort((ids, d))
        return SearchResult(ids[order], d[order].astype(np.int32))

    def search_batch(
        self, queries: np.ndarray, radius: int, *, threads: int | None = None
    ) -> list[SearchResult]:
        """``search`` for each row of ``queries``; large batches are split over ``threads``
        (default: up to 2, the cores of the reference machine; the kernels release the GIL)."""
        nq = as_hash_array(queries).shape[0]
        qi, ids, d = self.search_many(queries, radius, threads=threads)
        bounds = np.searchsorted(qi, np.arange(nq + 1))
        return [SearchResult(ids[a:b], d[a:b]) for a, b in itertools.pairwise(bounds)]

    def search_many(
        self, queries: np.ndarray, radius: int, *, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``search_batch`` as three flat arrays, without a result object per query: (query index,
        id, distance) of every match, sorted by query, then distance, then id (int64, int64, int32).
        For callers that look at the few queries that matched out of thousands."""
        r = _check_radius(radius)
        q = as_hash_array(queries)
        nq = q.shape[0]
        if not nq:
            return mih.EMPTY_IDS, mih.EMPTY_IDS, mih.EMPTY_D
        qwords = mih.hash_words(q)
        scanned = self._searched()
        workers = min(threads or mih.index_threads(), nq // _MIN_QUERIES_PER_THREAD)
        if workers > 1:
            cuts = np.linspace(0, nq, workers + 1).astype(int)
            jobs = [(int(a), qwords[a:b]) for a, b in itertools.pairwise(cuts)]
            parts = list(_search_pool().map(lambda job: _batch_part(scanned, job[1], r, job[0]), jobs))
        else:
            parts = [_batch_part(scanned, qwords, r, 0)]
        qi = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        d = np.concatenate([p[2] for p in parts])
        order = np.lexsort((ids, d, qi))
        return qi[order], ids[order], d[order].astype(np.int32)

    # --- persistence ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index (every segment, the delta as one more) atomically; see ``fileformat``."""
        with self._lock:
            segments = [(seg, seg.dead.copy()) for seg in self._segments]
            ids, words, dead, n_dead = self._delta.view()
            delta = (ids[~dead], words[~dead]) if n_dead else (ids.copy(), words.copy())
            watermark = int(self.watermark)
        if delta[0].shape[0]:
            seg = Segment.build(*_sorted_unique_last(*delta), widths=())
            segments.append((seg, seg.dead))
        write_index(Path(path), segments, watermark)

    @classmethod
    def load(
        cls, path: Path, *, use_mmap: bool = True, verify: bool = True, background: bool = True
    ) -> PdqIndex:
        """Open a saved index. Memory-mapped by default, so processes loading one file share it.

        Raises ``PdqIndexError`` with code ``index_missing`` or ``index_corrupt``; either way the
        caller rebuilds from the store.
        """
        path = Path(path)
        try:
            data = read_index(path, use_mmap=use_mmap, verify=verify)
        except FileNotFoundError:
            raise PdqIndexError(f"No PDQ index at {path}.", code="index_missing") from None
        except (IndexFileError, ValueError, OSError) as exc:
            raise PdqIndexError(
                f"The PDQ index file {path} is damaged ({exc}); rebuild it from the store.",
                code="index_corrupt",
            ) from exc
        idx = cls(background=background)
        idx._segments = tuple(data.segments)
        idx._live = sum(seg.live for seg in data.segments)
        idx.watermark = data.watermark
        return idx

    # --- introspection --------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (segments + delta capacity)."""
        with self._lock:
            d = self._delta
            return sum(seg.nbytes for seg in self._segments) + d.ids.nbytes + d.words.nbytes + d.dead.nbytes

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "live": self._live,
                "delta_rows": self._delta.n,
                "nbytes": self.nbytes,
                "segments": [
                    {
                        "rows": s.n,
                        "dead": s.n_dead,
                        "tables": s.m,
                        "widths": list(s.widths),
                        "nbytes": s.nbytes,
                    }
                    for s in self._segments
                ],
            }


def _batch_part(
    segments: list[Segment], qwords: np.ndarray, radius: int, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index + offset, ids, distances) of ``qwords`` over ``segments``."""
    found = [seg.search_batch(qwords, radius) for seg in segments]
    if not found:
        return mih.EMPTY_IDS, mih.EMPTY_IDS, mih.EMPTY_D
    return (
        np.concatenate([f[0] for f in found]) + offset,
        np.concatenate([f[1] for f in found]),
        np.concatenate([f[2] for f in found]),
    )


_MIN_QUERIES_PER_THREAD = 32
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _search_pool() -> ThreadPoolExecutor:
    """A process-wide pool for batch searches, re-created after ``fork`` (threads do not survive it)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            # room for two concurrent batch searches at the default width (the pool's size is fixed
            # when it starts, so a later change of the setting applies to new processes)
            workers = max(4, 2 * mih.index_threads())
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pdq-search"))
        return _pool[1]


def _merge_worker(ref: weakref.ref[PdqIndex], wake: threading.Event) -> None:
    """Background merges; exits a few seconds after its index is garbage-collected."""
    while True:
        wake.wait(timeout=5.0)
        idx = ref()
        if idx is None:
            return
        if wake.is_set():
            wake.clear()
            try:
                while idx._merge_step(idx._pick_merge):
                    pass
            except Exception:  # a failed merge leaves the index as it was: still exact
                log.exception("PDQ index merge failed")
        del idx
