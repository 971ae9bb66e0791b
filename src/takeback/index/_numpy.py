"""The search kernels in plain NumPy: the same functions, arguments and answers as ``_jit``.

Used until the compiled kernels are available (compiling them takes seconds once per machine and
numba version, in a background process: see ``kernels``), and by short-lived processes with a few
queries, where loading numba costs more than the search. Exact like ``_jit``: every live row within
the radius, each (query, row) once; only the order differs, and every caller sorts. About 3x the
compiled kernels' CPU per query in batches (~95 against ~30 µs at 1M hashes), ~1 ms for one query.
"""

from __future__ import annotations

import numpy as np

#: the compiled kernels' constant (``_jit.TABLE_MAJOR_MIN``); kept so callers can read it off either
TABLE_MAJOR_MIN = 512
_BLOCK_SHIFT = np.uint64(8)
#: rows x queries compared per step of a scan (bounds the temporaries at a few MB)
_SCAN_CELLS = 1 << 18


def _distances(cand: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Full 256-bit distances between rows of ``cand`` (k, 4) and ``query`` ((4,) or (k, 4))."""
    d: np.ndarray = np.bitwise_count(cand ^ query).sum(axis=-1, dtype=np.int32)
    return d


def _live_unique(
    qi: np.ndarray, rows: np.ndarray, d: np.ndarray, dead: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, first = np.unique(qi * n + rows, return_index=True)
    qi, rows, d = qi[first], rows[first], d[first]
    ok = ~dead[rows]
    return qi[ok], rows[ok], d[ok]


def mih_search(
    qkeys: np.ndarray,
    qwords: np.ndarray,
    radius: int,
    words: np.ndarray,
    dead: np.ndarray,
    table_rows: np.ndarray,
    block_base: np.ndarray,
    low: np.ndarray,
    table_base: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    radii: np.ndarray,
    mstart: np.ndarray,
    masks: np.ndarray,
    round_probes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index, row, distance) of every live row within ``radius`` of each query, each once."""
    nq, m = qkeys.shape
    n = int(words.shape[0])
    table = np.repeat(np.arange(m), np.diff(mstart))  # the table of each probe
    base = table_base[table].astype(np.uint64)
    flips = masks.astype(np.uint64)
    p = int(masks.shape[0])
    if nq == 0 or p == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
    chunk = max(1, round_probes // p)
    out_q, out_r, out_d = [], [], []
    for q0 in range(0, nq, chunk):
        keys = qkeys[q0 : q0 + chunk].astype(np.uint64)
        g = (base + (keys[:, table] ^ flips)).reshape(-1)
        lo = block_base[g >> _BLOCK_SHIFT] + low[g].astype(np.int64)
        g += np.uint64(1)
        cnt = block_base[g >> _BLOCK_SHIFT] + low[g].astype(np.int64) - lo
        nz = np.flatnonzero(cnt)
        if not nz.shape[0]:
            continue
        lo, cnt = lo[nz], cnt[nz]
        ends = np.cumsum(cnt)
        pos = np.repeat(lo - (ends - cnt), cnt) + np.arange(int(ends[-1]), dtype=np.int64)
        rows = table_rows[pos].astype(np.int64)
        qi = np.repeat(nz // p, cnt) + q0
        d = _distances(words[rows], qwords[qi])
        hit = d <= radius
        out_q.append(qi[hit])
        out_r.append(rows[hit])
        out_d.append(d[hit])
    if not out_q:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
    return _live_unique(np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d), dead, n)


def scan_search(
    qwords: np.ndarray, radius: int, words: np.ndarray, dead: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index, row, distance) of every live row within ``radius``: every row compared."""
    n, nq = int(words.shape[0]), int(qwords.shape[0])
    out_q, out_r, out_d = [], [], []
    row_step = max(1, min(n, _SCAN_CELLS))
    q_step = max(1, _SCAN_CELLS // row_step)
    for r0 in range(0, n, row_step):
        chunk = words[r0 : r0 + row_step]
        for q0 in range(0, nq, q_step):
            d = _distances(chunk[None, :, :], qwords[q0 : q0 + q_step, None, :])
            qi, ri = np.nonzero(d <= radius)
            out_q.append(qi.astype(np.int64) + q0)
            out_r.append(ri.astype(np.int64) + r0)
            out_d.append(d[qi, ri])
    if not out_q:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
    qi, rows, d = np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)
    ok = ~dead[rows]
    return qi[ok], rows[ok], d[ok]
