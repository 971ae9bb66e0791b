"""The compiled kernels: their machine code is cached where the caller says (the data dir), and the
probing path is exact where its staging has edges (bucket sizes, rounds, output growth)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from takeback.index import kernels
from takeback.index.mih import Segment, hash_words, split_widths

from .conftest import brute_force, flip_bits, random_hashes


def test_compiled_kernels_are_cached_in_the_given_directory(tmp_path: Path) -> None:
    """A fresh process compiles into ``cache_dir`` once; the next one loads from there."""
    code = (
        "import sys; from pathlib import Path; from takeback.index import warm_up; "
        "print(warm_up(Path(sys.argv[1])))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    cache = tmp_path / "data" / "index" / "jit"
    first = subprocess.run([sys.executable, "-c", code, str(cache)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))
    second = subprocess.run([sys.executable, "-c", code, str(cache)], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert float(second.stdout) < float(first.stdout)  # loaded, not compiled again


def test_probing_edges_big_buckets_many_rounds_and_many_hits() -> None:
    """Buckets far larger than the branch-free slots, queries spread over many rounds, and more hits
    than the first output guess, on a forced table layout: all equal to brute force."""
    rng = np.random.default_rng(12)
    base = random_hashes(rng, 200)
    copies = np.repeat(base[:3], 40, axis=0)  # 40-row buckets in every table
    near = np.array([flip_bits(base[i % 200], int(rng.integers(0, 33)), rng) for i in range(600)])
    hashes = np.concatenate([base, copies, near])
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    seg = Segment.build(ids, hash_words(hashes), widths=split_widths(16))
    plan = seg.probe_plan(31)
    jit = kernels.compiled()
    # 203 queries go query by query, 603 table by table (TABLE_MAJOR_MIN)
    assert 203 < jit.TABLE_MAJOR_MIN <= 603
    cases = [(n, rp) for n in (200, 600) for rp in (1, plan.probes * 7 + 3, kernels.ROUND_PROBES)]
    for n_near, round_probes in cases:
        queries = np.concatenate([base[:3], near[:n_near]])
        qwords = hash_words(queries)
        qi, rows, d = jit.mih_search(
            kernels.readonly(seg.batch_keys(qwords)),
            kernels.readonly(qwords),
            31,
            seg._ro_words,
            seg._ro_dead,
            *(seg._ro_tables or ()),
            plan.radii,
            plan.mstart,
            plan.masks,
            round_probes,
        )
        for i, q in enumerate(queries):
            want = brute_force(hashes, ids, q, 31)
            sel = qi == i
            order = np.lexsort((rows[sel], d[sel]))
            assert np.array_equal(ids[rows[sel][order]], want[0]), (round_probes, i)
            assert np.array_equal(d[sel][order], want[1])
        assert np.sum(qi < 3) >= 3 * 41  # each of the first queries sees its 40 copies and itself
