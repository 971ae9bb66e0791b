"""One immutable segment of the PDQ index: exact Hamming range search by multi-index hashing.

Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index
hashing", CVPR 2012): cut the 256 bits into ``m`` disjoint substrings and keep, per substring, a
table from substring value to the rows holding it. If ``d(q, h) <= r`` and ``r = m*s + a`` (``0 <= a
< m``), then by pigeonhole at least one of any ``a + 1`` chosen substrings is within ``s`` bits of the
query's, or one of the other ``m - a - 1`` is within ``s - 1`` bits (otherwise the distance would be at
least ``(a+1)(s+1) + (m-a-1)s = r + 1``). Probing every key within those radii and verifying each
candidate's full distance is therefore exact: no misses, for any radius.

Layout of a segment with ``n`` rows (rows are sorted by id, so ``ids`` doubles as the id lookup):

- ``ids`` int64 (n,), ``words`` uint64 (n, 4) (hash as four big-endian 64-bit words, native order),
  ``dead`` bool (n,) (tombstones: the only mutable part);
- per table ``j`` (``widths[j]`` bits, substrings taken from the most significant bit down): the row
  numbers sorted by substring value, all tables concatenated into ``table_rows`` uint32 (m*n,);
- the offsets of every (table, key) bucket as one monotonic sequence over the global key
  ``g = table_base[j] + key`` (``K = sum(2**widths)`` keys), stored two-level to save memory:
  ``offset(g) = block_base[g >> 8] + low[g]`` with ``low`` uint16 when every block of 256 keys
  holds < 65,536 entries (else uint32). Table ``j``'s bucket ``key`` is
  ``table_rows[offset(g) : offset(g + 1)]``.

At 10M random hashes the layout chosen is 11 tables (3 x 24 + 8 x 23 bits): 32 (hash) + 8 (id)
+ 44 (table rows) + ~23.5 (offsets) + 1 (tombstone) ≈ 109 bytes per hash, ~2.8k probes and ~3k
random candidates per query at radius 31.

Segments too small for tables to pay off (cost model below) have ``m == 0`` and are scanned.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType

import numpy as np

from takeback.config import get_settings
from takeback.index import kernels
from takeback.index.kernels import readonly

HASH_BITS = 256
HASH_WORDS = 4
BLOCK_SHIFT = 8
DESIGN_RADIUS = 31
MIN_WIDTH, MAX_WIDTH = 8, 32

# Cost model, in nanoseconds, measured on the 2-core development machine with the compiled kernels
# (``kernels``; batches of 4,000 random queries, radius 31). Only ratios matter: they pick the table
# layout and decide when scanning beats probing. At 1M rows a probe costs ~10 ns and a candidate
# ~10 ns, cache misses included (fit over 13-16 tables: 28.8-43.9 µs a query); at 20k rows, where
# the tables stay in cache, a probe costs ~5 ns. A scanned row costs 1.3 ns (four POPCNTs).
COST_PROBE_NS = 10.0  # one probe: key, bucket offsets, and the bucket's first rows
COST_CANDIDATE_NS = 10.0  # one candidate: its random 32-byte hash read + distance
COST_SCAN_NS = 1.3  # one row of a linear scan
COST_MIH_FIXED_NS = 3_000.0  # per query: keys, plan, kernel call
COST_SCAN_FIXED_NS = 1_000.0
# Memory allowed for tables + offsets, per row (the 32-byte hash, 8-byte id and tombstone are on top).
TABLE_BYTES_PER_ROW = 80
TABLE_BYTES_FLOOR = 1 << 20  # small segments may spend more per row; absolute bytes are tiny
BATCH_PROBES = 96 * 1024  # probes per round of a batch search (~32 queries at 10M rows)
PARALLEL_BUILD_ROWS = 100_000  # below this, thread start-up costs more than it saves


def index_threads() -> int:
    """Threads one table build or batch search may use: ``Settings.index_threads``
    (``TAKEBACK_INDEX_THREADS``), 0 meaning one per CPU core (was fixed at 2, the development machine's)."""
    return get_settings().index_threads or os.cpu_count() or 1


def split_widths(m: int) -> tuple[int, ...]:
    """Cut 256 bits into ``m`` nearly equal substrings, the wider ones first."""
    base, extra = divmod(HASH_BITS, m)
    return tuple(base + 1 if j < extra else base for j in range(m))


@lru_cache(maxsize=4096)
def _probes(width: int, radius: int) -> int:
    return sum(math.comb(width, i) for i in range(radius + 1)) if radius >= 0 else 0


def table_radii(widths: Sequence[int], n: int, radius: int) -> tuple[int, ...]:
    """Per-table search radius for ``radius``: ``a + 1`` tables at ``s``, the rest at ``s - 1``.

    The ``a + 1`` tables that get the larger radius are the ones where it costs least (the greedy
    choice is optimal: each table's extra cost is independent of the others).
    """
    m = len(widths)
    s, a = divmod(radius, m)
    extra = [
        _table_cost(w, n, s) - _table_cost(w, n, s - 1) for w in widths
    ]  # marginal cost of raising a table from s - 1 to s
    chosen = set(sorted(range(m), key=lambda j: (extra[j], j))[: a + 1])
    return tuple(s if j in chosen else s - 1 for j in range(m))


def _table_cost(width: int, n: int, radius: int) -> float:
    p = _probes(width, min(radius, width))
    return p * (COST_PROBE_NS + COST_CANDIDATE_NS * n / (1 << width))


def probe_cost_ns(widths: Sequence[int], n: int, radius: int) -> float:
    """Estimated time of one query on a segment of ``n`` random hashes (ns)."""
    radii = table_radii(widths, n, radius)
    return COST_MIH_FIXED_NS + sum(_table_cost(w, n, t) for w, t in zip(widths, radii, strict=True))


def scan_cost_ns(n: int) -> float:
    return COST_SCAN_FIXED_NS + COST_SCAN_NS * n


def choose_widths(n: int) -> tuple[int, ...]:
    """Table layout for ``n`` rows: the cheapest at the design radius within the memory budget.

    Returns ``()`` when scanning is cheaper (small segments).
    """
    best: tuple[float, tuple[int, ...]] = (scan_cost_ns(n), ())
    budget = TABLE_BYTES_PER_ROW * n + TABLE_BYTES_FLOOR
    for m in range(HASH_BITS // MAX_WIDTH, HASH_BITS // MIN_WIDTH + 1):
        widths = split_widths(m)
        memory = 4 * m * n + 2 * sum(1 << w for w in widths)
        if memory > budget:
            continue
        cost = probe_cost_ns(widths, n, DESIGN_RADIUS)
        if cost < best[0]:
            best = (cost, widths)
    return best[1]


@lru_cache(maxsize=256)
def flip_masks(width: int, radius: int) -> np.ndarray:
    """All ``width``-bit masks with at most ``radius`` bits set (read-only int64 array)."""
    radius = min(radius, width)
    out: list[int] = []
    for k in range(radius + 1):
        out.extend(sum(1 << i for i in combo) for combo in itertools.combinations(range(width), k))
    arr = np.array(out, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def hash_words(hashes: np.ndarray) -> np.ndarray:
    """uint8 (n, 32) → uint64 (n, 4): each 8-byte group read as a big-endian integer."""
    return np.ascontiguousarray(hashes).view(">u8").astype(np.uint64)


def extract_key(words: np.ndarray, start: int, width: int, dtype: type = np.int64) -> np.ndarray:
    """Substring ``[start, start + width)`` (bit 0 = most significant bit of the hash)."""
    k, off = divmod(start, 64)
    end = off + width
    if end <= 64:  # inside one word
        key = words[:, k] >> np.uint64(64 - end)
    else:  # straddles two words
        key = words[:, k] << np.uint64(end - 64)
        key |= words[:, k + 1] >> np.uint64(128 - end)
    key &= np.uint64((1 << width) - 1)
    return key if dtype is np.uint64 else key.astype(dtype)


def hamming(cand: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Distances (uint32) between rows of ``cand`` (k, 4) and ``query`` ((4,) or (k, 4)).

    Per-word popcounts are summed with one multiply (byte sum in the top byte). That sum is taken
    mod 256, so a distance of exactly 256 reads as 0; ``fix_wraparound`` repairs those rows.
    """
    x = np.bitwise_xor(cand, query)
    pc = np.bitwise_count(x).view(np.uint32).reshape(-1)
    d: np.ndarray = (pc * np.uint32(0x01010101)) >> np.uint32(24)
    return d


def fix_wraparound(d: np.ndarray, cand_words: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Set to 256 the distances that ``hamming`` wrapped to 0 (only exact complements)."""
    zero = np.flatnonzero(d == 0)
    if zero.size:
        q = query if query.ndim == 1 else query[zero]
        full = np.bitwise_count(cand_words[zero] ^ q).sum(axis=1)
        d = d.copy()
        d[zero] = full
    return d


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """Probes of one radius: table ``j`` flips its key by ``masks[mstart[j]:mstart[j + 1]]``."""

    radii: np.ndarray  # int64 (m,): each table's probe radius; -1 = not probed
    mstart: np.ndarray  # int64 (m + 1,)
    masks: np.ndarray  # int64 (P,)

    @property
    def probes(self) -> int:
        return int(self.masks.shape[0])


@dataclass(eq=False)
class Segment:
    """Immutable rows + tables; only ``dead`` (tombstones) changes after construction."""

    ids: np.ndarray
    words: np.ndarray
    dead: np.ndarray
    widths: tuple[int, ...] = ()
    table_rows: np.ndarray | None = None
    block_base: np.ndarray | None = None
    low: np.ndarray | None = None
    n_dead: int = 0
    _plans: dict[int, ProbePlan | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # read-only views for the kernels (one compiled version whether arrays are mapped or not);
        # ``dead`` changes in place and its view sees it
        self._ro_words = readonly(self.words)
        self._ro_dead = readonly(self.dead)
        if not self.widths:  # scanned (the delta is wrapped in one per search: keep this cheap)
            self.starts: tuple[int, ...] = ()
            self.table_base = EMPTY_IDS
            self._masks: tuple[int, ...] = ()
            self._shifts: tuple[int, ...] = ()
            self._ro_tables: tuple[np.ndarray, ...] | None = None
            return
        self.starts = tuple(int(x) for x in np.cumsum((0, *self.widths))[:-1])
        self.table_base = np.cumsum([0, *(1 << w for w in self.widths)])[:-1].astype(np.int64)
        self._masks = tuple((1 << w) - 1 for w in self.widths)
        self._shifts = tuple(HASH_BITS - s - w for s, w in zip(self.starts, self.widths, strict=True))
        self._ro_tables = None
        if self.table_rows is not None and self.block_base is not None and self.low is not None:
            self._ro_tables = (
                readonly(self.table_rows),
                readonly(self.block_base),
                readonly(self.low),
                readonly(self.table_base),
                readonly(np.array(self.starts, dtype=np.int64)),
                readonly(np.array(self.widths, dtype=np.int64)),
            )

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    @property
    def live(self) -> int:
        return self.n - self.n_dead

    @property
    def m(self) -> int:
        return len(self.widths)

    @property
    def nbytes(self) -> int:
        arrays = (self.ids, self.words, self.dead, self.table_rows, self.block_base, self.low)
        return sum(a.nbytes for a in arrays if a is not None)

    # --- construction -----------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: np.ndarray, words: np.ndarray, *, widths: tuple[int, ...] | None = None) -> Segment:
        """Build from unique ``ids`` and their ``words`` (any order; both are re-ordered by id)."""
        n = int(ids.shape[0])
        if n and np.any(ids[1:] <= ids[:-1]):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        words = np.ascontiguousarray(words, dtype=np.uint64)
        if widths is None:
            widths = choose_widths(n)
        dead = np.zeros(n, dtype=bool)
        if not widths:
            return cls(ids, words, dead)
        return cls(ids, words, dead, widths, *_build_tables(words, widths))

    # --- search -----------------------------------------------------------------------------------
    def plan(self, radius: int) -> ProbePlan | None:
        """The probes for ``radius``; ``None`` when scanning this segment is cheaper."""
        if radius in self._plans:
            return self._plans[radius]
        plan: ProbePlan | None = None
        if (
            self.widths
            and radius < HASH_BITS
            and probe_cost_ns(self.widths, self.n, radius) < scan_cost_ns(self.n)
        ):
            plan = self.probe_plan(radius)
        self._plans[radius] = plan
        return plan

    def probe_plan(self, radius: int) -> ProbePlan:
        """The probes for ``radius`` whatever they cost (``plan`` decides whether to use them)."""
        radii = table_radii(self.widths, self.n, radius)
        masks = [flip_masks(w, t) if t >= 0 else EMPTY_IDS for w, t in zip(self.widths, radii, strict=True)]
        return ProbePlan(
            readonly(np.array(radii, dtype=np.int64)),
            readonly(np.cumsum([0, *(mk.shape[0] for mk in masks)]).astype(np.int64)),
            readonly(np.concatenate(masks).astype(np.int64)),
        )

    def query_keys(self, query_int: int) -> np.ndarray:
        """The substring keys of one query given as a 256-bit Python integer."""
        return np.array(
            [(query_int >> sh) & mk for sh, mk in zip(self._shifts, self._masks, strict=True)],
            dtype=np.int64,
        )

    def batch_keys(self, qwords: np.ndarray) -> np.ndarray:
        return np.stack(
            [extract_key(qwords, s, w) for s, w in zip(self.starts, self.widths, strict=True)], axis=1
        )

    def search_one(self, qwords: np.ndarray, query_int: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of live rows within ``radius`` of one query (unsorted, unique)."""
        plan = self.plan(radius)
        keys = self.query_keys(query_int).reshape(1, -1) if plan is not None else None
        _, ids, d = self._search(qwords.reshape(1, HASH_WORDS), radius, plan, keys)
        return ids, d

    def search_batch(self, qwords: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, ids, distances) of live rows within ``radius`` of each query (each once)."""
        plan = self.plan(radius)
        keys = self.batch_keys(qwords) if plan is not None else None
        return self._search(qwords, radius, plan, keys)

    def _search(
        self,
        qwords: np.ndarray,
        radius: int,
        plan: ProbePlan | None,
        keys: np.ndarray | None,
        impl: ModuleType | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the kernels ``impl`` (default: ``kernels.implementation``: compiled, or NumPy until
        they are); both give the same answers."""
        if self.n == 0 or qwords.shape[0] == 0:
            return EMPTY_IDS, EMPTY_IDS, EMPTY_D
        jit = impl or kernels.implementation(int(qwords.shape[0]))
        qwords = readonly(np.ascontiguousarray(qwords, dtype=np.uint64))
        if plan is None or keys is None or self._ro_tables is None:
            qi, rows, d = jit.scan_search(qwords, radius, self._ro_words, self._ro_dead)
        else:
            qi, rows, d = jit.mih_search(
                readonly(keys),
                qwords,
                radius,
                self._ro_words,
                self._ro_dead,
                *self._ro_tables,
                plan.radii,
                plan.mstart,
                plan.masks,
                kernels.ROUND_PROBES,
            )
        return qi, self.ids[rows], d

    # --- identity ---------------------------------------------------------------------------------
    def locate(self, ids: np.ndarray) -> np.ndarray:
        """Rows holding live copies of ``ids`` (ids not here are skipped)."""
        if self.n == 0 or ids.shape[0] == 0:
            return EMPTY_IDS
        pos = np.searchsorted(self.ids, ids)
        pos[pos == self.n] = 0
        found = self.ids[pos] == ids
        rows: np.ndarray = pos[found]
        live: np.ndarray = rows[~self.dead[rows]]
        return live

    def kill(self, rows: np.ndarray) -> int:
        """Tombstone ``rows`` (must be live); returns how many."""
        self.dead[rows] = True
        self.n_dead += int(rows.shape[0])
        return int(rows.shape[0])

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.n_dead:
            return self.ids, self.words
        keep = ~self.dead
        return self.ids[keep], self.words[keep]


EMPTY_IDS = readonly(np.empty(0, dtype=np.int64))
EMPTY_D = readonly(np.empty(0, dtype=np.int32))


def _build_tables(words: np.ndarray, widths: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted rows per table and the two-level bucket offsets (see the module docstring)."""
    n = int(words.shape[0])
    m = len(widths)
    starts = np.cumsum((0, *widths))[:-1]
    sizes = [1 << w for w in widths]
    table_base = np.cumsum([0, *sizes])
    n_keys = int(table_base[-1])
    table_rows = np.empty(m * n, dtype=np.uint32)
    block_base = np.empty((n_keys >> BLOCK_SHIFT) + 1, dtype=np.int64)
    low16 = np.empty(n_keys + 1, dtype=np.uint16)
    wide: dict[int, np.ndarray] = {}  # tables whose blocks overflow 16-bit offsets (heavy duplicates)
    row_ids = np.arange(n, dtype=np.uint64)

    def one(j: int) -> None:
        size, base = sizes[j], int(table_base[j])
        key = extract_key(words, int(starts[j]), widths[j], dtype=np.uint64)
        counts = np.bincount(key.view(np.int64), minlength=size).reshape(-1, 1 << BLOCK_SHIFT)
        np.left_shift(key, np.uint64(32), out=key)
        key |= row_ids
        key.sort()  # by (substring, row): a radix of the two packed into one word
        table_rows[j * n : (j + 1) * n] = key  # keeps the low 32 bits: the row
        del key
        within = np.cumsum(counts, axis=1)  # inclusive prefix sums inside each block of keys
        totals = within[:, -1].copy()
        within -= counts  # exclusive: the offset of each key from its block's start
        nb = counts.shape[0]
        block_base[base >> BLOCK_SHIFT] = j * n
        np.cumsum(totals[:-1], out=block_base[(base >> BLOCK_SHIFT) + 1 : (base >> BLOCK_SHIFT) + nb])
        block_base[(base >> BLOCK_SHIFT) + 1 : (base >> BLOCK_SHIFT) + nb] += j * n
        rel = within.reshape(-1)
        if int(rel.max()) < (1 << 16):
            low16[base : base + size] = rel
        else:
            wide[j] = rel.astype(np.uint32)

    workers = min(index_threads(), m) if n >= PARALLEL_BUILD_ROWS else 1
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(m)))
    else:
        for j in range(m):
            one(j)
    block_base[-1] = m * n
    low16[-1] = 0
    if not wide:
        return table_rows, block_base, low16
    low32 = low16.astype(np.uint32)
    for j, rel in wide.items():
        low32[int(table_base[j]) : int(table_base[j]) + sizes[j]] = rel
    return table_rows, block_base, low32
