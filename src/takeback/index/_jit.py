# mypy: ignore-errors
# (numba kernels: typed by numba at compile time; numba's intrinsics and llvmlite carry no stubs)
"""numba kernels of the PDQ index. Import through ``kernels.compiled()``, which sets up the cache.

Layout and terms are those of ``mih`` (``table_rows``, ``block_base``, ``low``, global key ``g``);
the staging and why it is fast are explained in ``kernels``. Every kernel releases the GIL.

Output buffers are sized by a first guess; a stage that finds more hits than fit returns how many
it needed, and the caller runs it again with room for all of them (hits are rare, so this almost
never happens and keeps the hot loops free of reallocation).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Constants live here, not in ``kernels``: numba freezes globals into the cached machine code and
# only a change to this file invalidates that cache.
BLOCK_SHIFT = np.uint64(8)  # mih.BLOCK_SHIFT (not imported: this module must not import mih)
#: bucket slots copied per probe without a branch on the bucket's size
EXPAND = 2
#: how many iterations ahead each stage asks for the cache line it will need
PREFETCH = 32
#: batches of at least this many queries are searched one table at a time: that table's buckets and
#: rows (a few MB) then stay in cache for every query, where the query-by-query order touches every
#: table's (~80 MB at 1M hashes) and waits on memory. Measured at 1M hashes, 10,000 queries: 47 ->
#: 27 us of CPU a query; a single query is ~20 % faster query by query (more misses in flight).
TABLE_MAJOR_MIN = 512


@intrinsic
def popcount(typingctx, x):
    """POPCNT of a 64-bit word (LLVM's ctpop: one instruction on x86-64 with popcnt)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(inline="always")
def _distance(words, r, q0, q1, q2, q3):
    return np.int64(
        popcount(words[r, 0] ^ q0)
        + popcount(words[r, 1] ^ q1)
        + popcount(words[r, 2] ^ q2)
        + popcount(words[r, 3] ^ q3)
    )


@njit(inline="always")
def _substring(words, r, start, width):
    """Bits ``[start, start + width)`` of row ``r`` (bit 0 = the hash's most significant bit)."""
    k = start >> 6
    end = (start & 63) + width
    if end <= 64:
        key = words[r, k] >> np.uint64(64 - end)
    else:
        key = (words[r, k] << np.uint64(end - 64)) | (words[r, k + 1] >> np.uint64(128 - end))
    return np.int64(key & np.uint64((1 << width) - 1))


@intrinsic
def prefetch(typingctx, arr, idx):
    """Ask for the cache line of ``arr[idx]`` (no fault if out of range: LLVM's prefetch hint)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True)
def _keys(qkeys, q0, q1, j0, j1, table_base, mstart, masks, g_out):
    """Stage 0: every probe's global key over tables ``[j0, j1)``, (query, table, mask) order."""
    k = 0
    for qi in range(q0, q1):
        for j in range(j0, j1):
            key = qkeys[qi, j]
            base = table_base[j]
            for t in range(mstart[j], mstart[j + 1]):
                g_out[k] = np.uint64(base + (key ^ masks[t]))
                k += 1
    return k


@njit(nogil=True, cache=True)
def _probe(n_groups, mstart, keys, block_base, low, lo_out, cnt_out, group_end):
    """Stage 1: each probe's bucket (start, size), empty ones dropped; ``group_end`` closes each
    (query, table) group. Returns the bucket rows in all."""
    m = mstart.shape[0] - 1
    n = mstart[m] * (n_groups // m)
    last = max(n - 1, 0)
    i = 0
    k = 0
    total = 0
    for grp in range(n_groups):
        j = grp % m
        for _ in range(mstart[j + 1] - mstart[j]):
            prefetch(low, keys[min(i + PREFETCH, last)])
            g = keys[i]
            lo = block_base[g >> BLOCK_SHIFT] + np.int64(low[g])
            g1 = g + np.uint64(1)
            c = block_base[g1 >> BLOCK_SHIFT] + np.int64(low[g1]) - lo
            lo_out[k] = lo
            cnt_out[k] = c
            k += np.int64(c != 0)  # no branch: the slot is overwritten when the bucket is empty
            total += c
            i += 1
        group_end[grp] = k
    return total


@njit(nogil=True, cache=True)
def _expand(n_groups, group_end, lo_a, cnt_a, table_rows, rows_out, cand_end):
    """Stage 2: the rows of those buckets, ``EXPAND`` slots a bucket without branching on its
    size; ``cand_end`` closes each group's candidates."""
    lim = table_rows.shape[0] - 1
    last = max(group_end[n_groups - 1] - 1, 0) if n_groups else 0
    start = 0
    k = 0
    for grp in range(n_groups):
        end = group_end[grp]
        for i in range(start, end):
            prefetch(table_rows, np.uint64(lo_a[min(i + PREFETCH, last)]))
            lo = lo_a[i]
            c = cnt_a[i]
            for p in range(EXPAND):
                rows_out[k + p] = table_rows[min(lo + p, lim)]
            if c > EXPAND:  # rare: a large bucket
                for p in range(EXPAND, c):
                    rows_out[k + p] = table_rows[lo + p]
            k += c
        start = end
        cand_end[grp] = k
    return k


@njit(nogil=True, cache=True)
def _verify(
    n_groups,
    cand_end,
    rows,
    q0,
    j0,
    j1,
    qwords,
    qkeys,
    words,
    dead,
    radius,
    starts,
    widths,
    radii,
    out_q,
    out_r,
    out_d,
    k,
):
    """Stage 3: full distances; a hit counts once, for the first table whose probes reach it.
    Groups are (query, table) over tables ``[j0, j1)``."""
    m = j1 - j0
    cap = out_q.shape[0]
    last = max(cand_end[n_groups - 1] - 1, 0) if n_groups else 0
    start = 0
    for grp in range(n_groups):
        qi = q0 + grp // m
        j = j0 + grp % m
        a0, a1, a2, a3 = qwords[qi, 0], qwords[qi, 1], qwords[qi, 2], qwords[qi, 3]
        end = cand_end[grp]
        for i in range(start, end):
            prefetch(words, np.uint64(rows[min(i + PREFETCH, last)]) * np.uint64(4))
            r = np.uint64(rows[i])
            d = _distance(words, r, a0, a1, a2, a3)
            if d <= radius:
                seen = False
                for jj in range(j):
                    if radii[jj] >= 0:
                        sub = _substring(words, r, starts[jj], widths[jj])
                        if np.int64(popcount(np.uint64(sub ^ qkeys[qi, jj]))) <= radii[jj]:
                            seen = True
                            break
                if not seen and not dead[r]:
                    if k < cap:
                        out_q[k] = qi
                        out_r[k] = np.int64(r)
                        out_d[k] = d
                    k += 1
        start = end
    return k


@njit(nogil=True, cache=True)
def mih_search(
    qkeys,
    qwords,
    radius,
    words,
    dead,
    table_rows,
    block_base,
    low,
    table_base,
    starts,
    widths,
    radii,
    mstart,
    masks,
    round_probes,
):
    """(query index, row, distance) of every live row within ``radius`` of each query, each once.

    ``qkeys`` (nq, m) are the queries' substrings, ``mstart``/``masks`` the flip masks of each
    table's probe radius ``radii[j]`` (-1: not probed), concatenated. Large batches go table by
    table (``TABLE_MAJOR_MIN``), small ones query by query.
    """
    nq = qkeys.shape[0]
    m = qkeys.shape[1]
    out_q = np.empty(max(16, nq), np.int64)
    out_r = np.empty(max(16, nq), np.int64)
    out_d = np.empty(max(16, nq), np.int32)
    # table passes: (first table, end table) pairs; one pass over every table, or one per table
    if nq >= TABLE_MAJOR_MIN:
        passes = np.empty((m, 2), np.int64)
        for j in range(m):
            passes[j, 0] = j
            passes[j, 1] = j + 1
    else:
        passes = np.empty((1, 2), np.int64)
        passes[0, 0] = 0
        passes[0, 1] = m
    most = 1
    for p in range(passes.shape[0]):
        most = max(most, mstart[passes[p, 1]] - mstart[passes[p, 0]])
    chunk = max(1, round_probes // most)
    cap = min(nq, chunk) * most
    keys = np.empty(cap, np.uint64)
    lo_a = np.empty(cap, np.int64)
    cnt_a = np.empty(cap, np.int64)
    group_end = np.empty(min(nq, chunk) * m, np.int64)
    cand_end = np.empty(min(nq, chunk) * m, np.int64)
    rows = np.empty(2 * cap + EXPAND, np.uint32)
    k = 0
    for p in range(passes.shape[0]):
        j0 = passes[p, 0]
        j1 = passes[p, 1]
        if mstart[j1] == mstart[j0]:
            continue  # no table of this pass is probed
        sub = mstart[j0 : j1 + 1] - mstart[j0]
        for q0 in range(0, nq, chunk):
            q1 = min(nq, q0 + chunk)
            n_groups = (q1 - q0) * (j1 - j0)
            _keys(qkeys, q0, q1, j0, j1, table_base, mstart, masks, keys)
            total = _probe(n_groups, sub, keys, block_base, low, lo_a, cnt_a, group_end)
            if total + EXPAND > rows.shape[0]:
                rows = np.empty(2 * total + EXPAND, np.uint32)
            _expand(n_groups, group_end, lo_a, cnt_a, table_rows, rows, cand_end)
            args = (
                n_groups,
                cand_end,
                rows,
                q0,
                j0,
                j1,
                qwords,
                qkeys,
                words,
                dead,
                radius,
                starts,
                widths,
                radii,
            )
            got = _verify(*args, out_q, out_r, out_d, k)
            if got > out_q.shape[0]:
                out_q = _grown(out_q, k, 2 * got)
                out_r = _grown(out_r, k, 2 * got)
                out_d = _grown(out_d, k, 2 * got)
                got = _verify(*args, out_q, out_r, out_d, k)
            k = got
    return out_q[:k], out_r[:k], out_d[:k]


@njit(nogil=True, cache=True)
def _grown(a, keep, size):
    out = np.empty(size, a.dtype)
    out[:keep] = a[:keep]
    return out


@njit(nogil=True, cache=True)
def _scan_into(qwords, radius, words, dead, out_q, out_r, out_d):
    cap = out_q.shape[0]
    k = 0
    for qi in range(qwords.shape[0]):
        q0, q1, q2, q3 = qwords[qi, 0], qwords[qi, 1], qwords[qi, 2], qwords[qi, 3]
        for r in range(words.shape[0]):
            d = _distance(words, r, q0, q1, q2, q3)
            if d <= radius and not dead[r]:
                if k < cap:
                    out_q[k] = qi
                    out_r[k] = r
                    out_d[k] = d
                k += 1
    return k


@njit(nogil=True, cache=True)
def scan_search(qwords, radius, words, dead):
    """(query index, row, distance) of every live row within ``radius``: every row compared."""
    size = max(16, qwords.shape[0])
    out_q = np.empty(size, np.int64)
    out_r = np.empty(size, np.int64)
    out_d = np.empty(size, np.int32)
    k = _scan_into(qwords, radius, words, dead, out_q, out_r, out_d)
    if k > size:
        out_q = np.empty(k, np.int64)
        out_r = np.empty(k, np.int64)
        out_d = np.empty(k, np.int32)
        k = _scan_into(qwords, radius, words, dead, out_q, out_r, out_d)
    return out_q[:k], out_r[:k], out_d[:k]
