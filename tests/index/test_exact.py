"""Exactness of the PDQ index against brute force: every hash within the radius, nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from takeback.index import PdqIndex
from takeback.index.mih import Segment, hash_words, split_widths, table_radii

from .conftest import assert_same, brute_force, brute_force_batch, flip_bits, random_hashes

RADII = (0, 1, 7, 30, 31, 32, 63, 64, 100, 255, 256, 300)


def planted_queries(rng: np.random.Generator, hashes: np.ndarray, count: int) -> np.ndarray:
    """Half near-duplicates of stored hashes (0-40 bits off), half random hashes."""
    out = []
    for i in range(count):
        if hashes.shape[0] and i % 2 == 0:
            out.append(flip_bits(hashes[rng.integers(hashes.shape[0])], int(rng.integers(0, 41)), rng))
        else:
            out.append(random_hashes(rng, 1)[0])
    return np.array(out, dtype=np.uint8)


@pytest.mark.parametrize("n", [0, 1, 2, 17, 3000])
def test_small_indexes_match_brute_force_at_every_radius(n: int) -> None:
    rng = np.random.default_rng(n)
    hashes = random_hashes(rng, n)
    ids = rng.permutation(10 * n + 1)[:n].astype(np.int64)
    idx = PdqIndex.build(ids, hashes)
    queries = planted_queries(rng, hashes, 24)
    for r in RADII:
        batch = idx.search_batch(queries, r)
        for q, got in zip(queries, batch, strict=True):
            want = brute_force(hashes, ids, q, r)
            assert_same(idx.search(q, r), want, (n, r))
            assert_same(got, want, (n, r, "batch"))


def test_one_hash_index_finds_every_neighbour_up_to_the_threshold() -> None:
    """HMA's FAISS wrapper misses on a one-hash index; here every distance 0..256 is checked,
    on the default (scanned) layout and on every forced table layout."""
    rng = np.random.default_rng(1)
    h = random_hashes(rng, 1)
    queries = np.array([flip_bits(h[0], k, rng) for k in range(257)])
    idx = PdqIndex.build([42], h)
    forced = [Segment.build(np.array([42]), hash_words(h), widths=split_widths(m)) for m in (12, 16, 23, 32)]
    for k, q in enumerate(queries):
        for r in (0, 15, 31, 32, 255, 256):
            res = idx.search(q, r)
            assert list(res.ids) == ([42] if k <= r else []), (k, r)
            assert list(res.distances) == ([k] if k <= r else [])
            qw = hash_words(q.reshape(1, 32))[0]
            for seg in forced:
                ids, d = seg.search_one(qw, int.from_bytes(q.tobytes(), "big"), r)
                assert list(ids) == ([42] if k <= r else []), (seg.widths, k, r)
                assert list(d) == ([k] if k <= r else [])


@pytest.mark.parametrize("m", range(8, 33))
def test_substring_keys_match_python_integers(m: int) -> None:
    """Key extraction (words straddled in most layouts) against plain big-integer arithmetic."""
    rng = np.random.default_rng(m)
    hashes = random_hashes(rng, 50)
    widths = split_widths(m)
    seg = Segment(np.arange(50), hash_words(hashes), np.zeros(50, bool), widths)
    keys = seg.batch_keys(hash_words(hashes))
    for row, h in zip(keys, hashes, strict=True):
        as_int = int.from_bytes(h.tobytes(), "big")
        start, want = 0, []
        for w in widths:
            want.append((as_int >> (256 - start - w)) & ((1 << w) - 1))
            start += w
        assert row.tolist() == want == seg.query_keys(as_int).tolist()


@pytest.mark.parametrize("m", [12, 13, 16, 21, 32])
def test_every_table_layout_is_exact(m: int) -> None:
    """Force each layout on a small segment (the cost model would scan it) and compare."""
    rng = np.random.default_rng(m)
    base = random_hashes(rng, 300)
    near = np.array([flip_bits(base[i % 300], int(k), rng) for i, k in enumerate(rng.integers(0, 40, 600))])
    hashes = np.concatenate([base, near, base[:50]])  # exact duplicates under other ids too
    ids = np.arange(hashes.shape[0], dtype=np.int64) * 3 + 1
    seg = Segment.build(ids, hash_words(hashes), widths=split_widths(m))
    assert seg.m == m and sum(seg.widths) == 256
    queries = planted_queries(rng, hashes, 30)
    qwords = hash_words(queries)
    for r in (0, 5, 31, 32, 47, 63):
        qi_b, ids_b, d_b = seg.search_batch(qwords, r)
        for i, q in enumerate(queries):
            want = brute_force(hashes, ids, q, r)
            got_ids, got_d = seg.search_one(qwords[i], int.from_bytes(q.tobytes(), "big"), r)
            order = np.lexsort((got_ids, got_d))
            assert np.array_equal(got_ids[order], want[0]), (m, r, i)
            assert np.array_equal(got_d[order], want[1])
            sel = qi_b == i
            order = np.lexsort((ids_b[sel], d_b[sel]))
            assert np.array_equal(ids_b[sel][order], want[0]), (m, r, i, "batch")


@pytest.mark.parametrize("m", [12, 16, 21])
@pytest.mark.parametrize("radius", [5, 31, 32, 47, 63])
def test_pigeonhole_worst_cases_are_found(m: int, radius: int) -> None:
    """Neighbours at exactly ``radius`` that only one table can see: that table's substring is
    exactly at its probe radius and every other substring one bit beyond its own."""
    rng = np.random.default_rng(radius * 100 + m)
    widths = split_widths(m)
    starts = np.cumsum((0, *widths))[:-1]
    center = random_hashes(rng, 1)[0]
    hashes = [center]
    n_background = 500
    radii = table_radii(widths, n_background + 1 + m, radius)
    for j, t in enumerate(radii):
        if t < 0:
            continue
        bits = np.unpackbits(center)
        for k, (s, w) in enumerate(zip(starts, widths, strict=True)):
            flips = radii[k] if k == j else radii[k] + 1
            bits[s + rng.choice(w, size=flips, replace=False)] ^= 1
        hashes.append(np.packbits(bits))
    hashes = np.concatenate([np.array(hashes), random_hashes(rng, n_background + 1 + m - len(hashes))])
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    seg = Segment.build(ids, hash_words(hashes), widths=widths)
    assert seg.n == n_background + 1 + m  # the radii above are the ones the segment will use
    got_ids, got_d = seg.search_one(
        hash_words(center[None])[0], int.from_bytes(center.tobytes(), "big"), radius
    )
    want = brute_force(hashes, ids, center, radius)
    # tightness: each planted neighbour sits exactly at the radius (one bit more anywhere and no
    # table could see it), so the per-table radii leave no slack and no gap
    assert sorted(want[1].tolist()) == [0] + [radius] * sum(t >= 0 for t in radii)
    assert sum(t + 1 for t in radii) == radius + 1
    order = np.lexsort((got_ids, got_d))
    assert np.array_equal(got_ids[order], want[0]) and np.array_equal(got_d[order], want[1])


def test_distance_256_is_not_mistaken_for_0() -> None:
    """The per-word popcount sum wraps at 256: an exact complement must read 256, not 0."""
    rng = np.random.default_rng(3)
    h = random_hashes(rng, 1)
    complement = np.bitwise_not(h)
    for idx in (PdqIndex.build([1, 2], np.concatenate([h, complement])),):
        assert list(idx.search(h[0], 31).ids) == [1]
        res = idx.search(h[0], 256)
        assert list(res.ids) == [1, 2] and list(res.distances) == [0, 256]
        assert list(idx.search_batch(h, 255)[0].ids) == [1]
    seg = Segment.build(
        np.array([1, 2]), hash_words(np.concatenate([h, complement])), widths=split_widths(16)
    )
    ids, d = seg.search_one(hash_words(h)[0], int.from_bytes(h.tobytes(), "big"), 200)
    assert list(ids) == [1] and list(d) == [0]


def test_duplicate_hashes_under_many_ids_are_all_returned() -> None:
    rng = np.random.default_rng(4)
    h = random_hashes(rng, 1)
    others = random_hashes(rng, 30_000)
    hashes = np.concatenate([np.repeat(h, 5000, axis=0), others])
    ids = rng.permutation(hashes.shape[0]).astype(np.int64)
    idx = PdqIndex.build(ids, hashes)
    assert idx.stats()["segments"][0]["tables"] > 0  # this size uses the tables
    res = idx.search(h[0], 0)
    assert np.array_equal(res.ids, np.sort(ids[:5000]))
    assert not res.distances.any()


def test_heavy_duplicates_overflow_to_wide_offsets(tmp_path: Path) -> None:
    """70k copies of one hash put > 65,535 rows in one block of keys: offsets go 32-bit, still exact,
    and survive a save/load."""
    rng = np.random.default_rng(8)
    h = random_hashes(rng, 1)
    hashes = np.concatenate([np.repeat(h, 70_000, axis=0), random_hashes(rng, 10_000)])
    hashes[70_000:70_100] = [flip_bits(h[0], int(k), rng) for k in rng.integers(1, 40, 100)]
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    idx = PdqIndex.build(ids, hashes)
    seg = idx._segments[0]
    assert seg.m and seg.low is not None and seg.low.dtype == np.uint32
    idx.save(tmp_path / "wide.idx")
    loaded = PdqIndex.load(tmp_path / "wide.idx")
    queries = np.concatenate([h, [flip_bits(h[0], 20, rng)], hashes[70_000:70_010], random_hashes(rng, 5)])
    for q in queries:
        want = brute_force(hashes, ids, q, 31)
        assert_same(idx.search(q, 31), want)
        assert_same(loaded.search(q, 31), want)


def test_hashes_exactly_at_the_threshold() -> None:
    rng = np.random.default_rng(5)
    center = random_hashes(rng, 1)[0]
    ring = np.array([flip_bits(center, k, rng) for k in (30, 31, 31, 32, 33)])
    background = random_hashes(rng, 40_000)
    hashes = np.concatenate([ring, background])
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    idx = PdqIndex.build(ids, hashes)
    assert list(idx.search(center, 31).ids) == [0, 1, 2]
    assert list(idx.search(center, 31).distances) == [30, 31, 31]
    assert list(idx.search(center, 32).ids) == [0, 1, 2, 3]
    assert list(idx.search(center, 30).ids) == [0]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    m=st.sampled_from([0, 12, 13, 16, 19, 25, 32]),
    radius=st.integers(0, 80),
)
def test_hypothesis_random_layouts_and_radii(seed: int, n: int, m: int, radius: int) -> None:
    rng = np.random.default_rng(seed)
    base = random_hashes(rng, max(1, n // 2))
    near = np.array(
        [flip_bits(base[i % base.shape[0]], int(rng.integers(0, 64)), rng) for i in range(n - n // 2)]
    )
    hashes = np.concatenate([base[: n // 2], near.reshape(-1, 32)]).astype(np.uint8)
    ids = rng.choice(2**62, size=hashes.shape[0], replace=False).astype(np.int64) - 2**61
    seg = Segment.build(ids, hash_words(hashes), widths=split_widths(m) if m else ())
    queries = planted_queries(rng, hashes if n else base, 6)
    qwords = hash_words(queries)
    qi_b, ids_b, d_b = seg.search_batch(qwords, radius)
    for i, q in enumerate(queries):
        want = brute_force(hashes, ids, q, radius)
        got_ids, got_d = seg.search_one(qwords[i], int.from_bytes(q.tobytes(), "big"), radius)
        order = np.lexsort((got_ids, got_d))
        assert np.array_equal(got_ids[order], want[0])
        assert np.array_equal(got_d[order], want[1])
        sel = qi_b == i
        order = np.lexsort((ids_b[sel], d_b[sel]))
        assert np.array_equal(ids_b[sel][order], want[0]) and np.array_equal(d_b[sel][order], want[1])


def test_large_index_smoke_planted_neighbours() -> None:
    """200k hashes (tables in use) with clusters of planted near-duplicates at 1..31 bits."""
    rng = np.random.default_rng(6)
    n = 200_000
    hashes = random_hashes(rng, n)
    sources = rng.choice(n, 300, replace=False)
    for j, s in enumerate(sources):  # overwrite rows with near-duplicates of the sources
        for t in range(3):
            hashes[(s + 1 + t) % n] = flip_bits(hashes[s], int(rng.integers(1, 32)), rng)
        hashes[(s + 4) % n] = flip_bits(hashes[s], 31 - j % 2, rng)
    ids = np.arange(n, dtype=np.int64) * 7
    idx = PdqIndex.build(ids, hashes)
    assert idx.stats()["segments"][0]["tables"] >= 10
    queries = np.concatenate(
        [
            np.array([flip_bits(hashes[s], int(rng.integers(0, 12)), rng) for s in sources[:150]]),
            random_hashes(rng, 150),
        ]
    )
    batch = idx.search_batch(queries, 31)
    found = 0
    for q, got, want in zip(queries, batch, brute_force_batch(hashes, ids, queries, 31), strict=True):
        assert_same(idx.search(q, 31), want)
        assert_same(got, want, "batch")
        found += len(want[0])
    assert found >= 150 * 2  # the planted clusters were found, several members each


def test_batch_equals_single_with_threads() -> None:
    rng = np.random.default_rng(7)
    hashes = random_hashes(rng, 50_000)
    idx = PdqIndex.build(np.arange(50_000), hashes)
    idx.add(np.arange(50_000, 50_100), random_hashes(rng, 100))  # some rows in the delta too
    queries = planted_queries(rng, hashes, 200)
    for threads in (1, 2, 4):
        batch = idx.search_batch(queries, 31, threads=threads)
        assert len(batch) == 200
        for q, got in zip(queries, batch, strict=True):
            single = idx.search(q, 31)
            assert np.array_equal(single.ids, got.ids) and np.array_equal(single.distances, got.distances)
    assert idx.search_batch(np.empty((0, 32), np.uint8), 31) == []


def test_search_many_is_search_batch_flattened() -> None:
    """The flat form: (query, id, distance) sorted by query, distance, id; same answers."""
    rng = np.random.default_rng(9)
    hashes = random_hashes(rng, 20_000)
    ids = np.arange(20_000, dtype=np.int64) * 5
    idx = PdqIndex.build(ids, hashes)
    idx.add(np.array([7, 9]), np.stack([hashes[3], flip_bits(hashes[3], 2, rng)]))  # the delta too
    queries = planted_queries(rng, hashes, 150)
    for threads in (1, 2):
        qi, got_ids, got_d = idx.search_many(queries, 31, threads=threads)
        assert qi.dtype == got_ids.dtype == np.int64 and got_d.dtype == np.int32
        assert np.all(np.diff(qi) >= 0)
        for i, res in enumerate(idx.search_batch(queries, 31)):
            sel = qi == i
            assert np.array_equal(got_ids[sel], res.ids) and np.array_equal(got_d[sel], res.distances)
    empty = idx.search_many(np.empty((0, 32), np.uint8), 31)
    assert [a.shape for a in empty] == [(0,), (0,), (0,)]
