"""The compiled kernels: their machine code is cached where the caller says (the data dir), and the
probing path is exact where its staging has edges (bucket sizes, rounds, output growth)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from takeback.index import _numpy, kernels
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


def _both(seg: Segment, qwords: np.ndarray, radius: int) -> tuple[set[tuple[int, int, int]], ...]:
    """The answers of the compiled and the NumPy kernels on ``seg``, as sets of (query, id, distance)."""
    plan = seg.plan(radius)
    keys = seg.batch_keys(qwords) if plan is not None else None
    out = []
    for impl in (kernels.compiled(), _numpy):
        qi, ids, d = seg._search(qwords, radius, plan, keys, impl)
        assert qi.dtype == np.int64 and ids.dtype == np.int64 and d.dtype == np.int32
        found = list(zip(qi.tolist(), ids.tolist(), d.tolist(), strict=True))
        assert len(found) == len(set(found))  # each (query, row) once
        out.append(set(found))
    return tuple(out)


def test_numpy_kernels_answer_exactly_as_the_compiled_ones() -> None:
    """The first-run path (NumPy, used until the compiled kernels are in the cache) gives the same
    answers: table layouts, scanned segments, tombstones, big buckets, one query and table-major
    batches, radii from 0 to past the design radius."""
    rng = np.random.default_rng(21)
    base = random_hashes(rng, 3000)
    copies = np.repeat(base[:2], 30, axis=0)
    near = np.array([flip_bits(base[i % 3000], int(rng.integers(0, 40)), rng) for i in range(700)])
    hashes = np.concatenate([base, copies, near])
    ids = np.arange(10, 10 + hashes.shape[0], dtype=np.int64) * 3
    words = hash_words(hashes)
    layouts: list[tuple[int, ...] | None] = [None, (), split_widths(16), split_widths(11)]
    queries = hash_words(np.concatenate([base[:5], near[:600], random_hashes(rng, 20)]))
    for widths in layouts:
        seg = Segment.build(ids, words, widths=widths)
        seg.kill(rng.choice(seg.n, 200, replace=False))
        for radius in (0, 8, 31, 40):
            for q in (queries[:1], queries[5:6], queries[:40], queries):  # 625 queries: table-major
                compiled, numpy = _both(seg, q, radius)
                assert compiled == numpy, (widths, radius, q.shape[0])
        assert compiled  # the last batch found something


def test_searches_run_before_the_kernels_are_compiled(tmp_path: Path) -> None:
    """A fresh cache: the first search answers at once (NumPy kernels, no compile in the searching
    process), starts the compile in a detached process, and that process fills the cache."""
    code = (
        "import sys, time; from pathlib import Path; import numpy as np\n"
        "from takeback.index import PdqIndex, kernels\n"
        "kernels.set_cache_dir(Path(sys.argv[1]))\n"
        "h = np.random.default_rng(0).integers(0, 256, (20000, 32), dtype=np.uint8)\n"
        "idx = PdqIndex.build(np.arange(20000), h)\n"
        "r = idx.search(h[7].tobytes(), 31)\n"
        "print(r.ids.tolist()[:1], kernels._compiled is None, 'numba' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    cache = tmp_path / "jit"
    run = subprocess.run([sys.executable, "-c", code, str(cache)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["[7]", "True", "False"]  # found, without loading numba
    deadline = time.monotonic() + 300
    while not list(cache.glob("ready-*")):
        assert time.monotonic() < deadline, "the background compile did not fill the cache"
        time.sleep(0.5)
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))
