"""Adds, removes, replacements, seals and merges: every change visible to the very next search."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from takeback.index import PdqIndex
from takeback.index import pdq as pdq_module

from .conftest import assert_same, brute_force, flip_bits, random_hashes


class Model:
    """The obvious dict implementation the index must agree with."""

    def __init__(self) -> None:
        self.rows: dict[int, bytes] = {}

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        for i, h in zip(ids.tolist(), hashes, strict=True):
            self.rows[i] = h.tobytes()

    def remove(self, ids: np.ndarray) -> None:
        for i in ids.tolist():
            self.rows.pop(i, None)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(sorted(self.rows), dtype=np.int64)
        hashes = np.frombuffer(b"".join(self.rows[i] for i in ids.tolist()), np.uint8).reshape(-1, 32)
        return ids, hashes


def check(idx: PdqIndex, model: Model, rng: np.random.Generator, radius: int = 31) -> None:
    ids, hashes = model.arrays()
    assert len(idx) == len(ids)
    assert np.array_equal(idx.ids(), ids)
    queries = [random_hashes(rng, 1)[0]]
    if len(ids):
        picks = rng.integers(0, len(ids), 6)
        queries += [flip_bits(hashes[p], int(rng.integers(0, 34)), rng) for p in picks]
    for q in queries:
        assert_same(idx.search(q, radius), brute_force(hashes, ids, q, radius))
    for q, got in zip(queries, idx.search_batch(np.array(queries), radius), strict=True):
        assert_same(got, brute_force(hashes, ids, q, radius), "batch")


def test_add_then_search_sees_it_remove_then_gone_readd_replaces() -> None:
    rng = np.random.default_rng(0)
    idx = PdqIndex(background=False)
    base = random_hashes(rng, 20_000)
    idx.add(np.arange(20_000), base)  # bulk: becomes a table segment at once
    assert len(idx) == 20_000 and 19_999 in idx and 20_000 not in idx

    h = random_hashes(rng, 1)
    idx.add([777_777], h)
    assert 777_777 in idx
    assert list(idx.search(h[0], 0).ids) == [777_777]

    idx.remove([777_777, 123_456_789])  # unknown ids are ignored
    assert 777_777 not in idx and len(idx) == 20_000
    assert len(idx.search(h[0], 0)) == 0

    idx.remove([5])  # a row of the big segment
    assert len(idx.search(base[5], 0)) == 0 and 5 not in idx

    moved = flip_bits(base[6], 40, rng)
    idx.add([6], moved.reshape(1, 32))  # re-adding an id replaces its hash
    assert list(idx.search(moved, 0).ids) == [6]
    assert 6 not in idx.search(base[6], 31).ids
    assert len(idx) == 19_999

    idx.add([5], base[5:6])  # re-add after remove
    assert list(idx.search(base[5], 0).ids) == [5] and len(idx) == 20_000


def test_repeated_id_within_one_add_keeps_the_last_hash() -> None:
    rng = np.random.default_rng(1)
    a, b = random_hashes(rng, 2)
    for n_filler in (0, 5000):  # delta path and bulk path
        idx = PdqIndex(background=False)
        filler = random_hashes(rng, n_filler)
        ids = np.concatenate([[9], np.arange(100, 100 + n_filler), [9]]).astype(np.int64)
        idx.add(ids, np.concatenate([a[None], filler, b[None]]))
        assert len(idx) == n_filler + 1
        assert list(idx.search(b, 0).ids) == [9] and len(idx.search(a, 0)) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_operation_sequences_match_a_model(seed: int) -> None:
    """Small adds (delta), bulk adds (segments), seals, merges, removes, replacements, compaction."""
    rng = np.random.default_rng(seed)
    idx, model = PdqIndex(background=False), Model()
    pool = random_hashes(rng, 4000)
    next_id = 0
    for step in range(45):
        op = rng.choice(
            ["small", "small", "bulk", "remove", "replace", "compact"], p=[0.35, 0.2, 0.1, 0.2, 0.1, 0.05]
        )
        if op == "small":
            k = int(rng.integers(1, 600))
            new = np.array(
                [flip_bits(pool[rng.integers(4000)], int(rng.integers(0, 40)), rng) for _ in range(k)]
            )
            ids = np.arange(next_id, next_id + k)
            next_id += k
        elif op == "bulk":
            k = int(rng.integers(pdq_module.SEAL_ROWS, pdq_module.SEAL_ROWS + 3000))
            new, ids = random_hashes(rng, k), np.arange(next_id, next_id + k)
            new[: k // 10] = pool[rng.integers(0, 4000, k // 10)]  # exact duplicates of other rows
            next_id += k
        elif op in ("remove", "replace") and model.rows:
            live = np.array(list(model.rows))
            ids = rng.choice(live, size=min(len(live), int(rng.integers(1, 800))), replace=False)
            if op == "remove":
                ids = np.concatenate([ids, [next_id + 10**6]])  # plus an unknown id
                idx.remove(ids)
                model.remove(ids)
                check(idx, model, rng)
                continue
            new = random_hashes(rng, len(ids))
        elif op == "compact":
            idx.compact()
            assert len(idx.stats()["segments"]) <= 1 and idx.stats()["delta_rows"] == 0
            check(idx, model, rng)
            continue
        else:
            continue
        idx.add(ids, new)
        model.add(ids, new)
        if step % 3 == 0:
            check(idx, model, rng)
    check(idx, model, rng)
    check(idx, model, rng, radius=0)
    check(idx, model, rng, radius=64)
    assert len(idx.stats()["segments"]) < 12  # merging keeps the segment count logarithmic


def test_tombstone_heavy_segments_are_rebuilt() -> None:
    rng = np.random.default_rng(3)
    idx = PdqIndex(background=False)
    hashes = random_hashes(rng, 10_000)
    idx.add(np.arange(10_000), hashes)
    idx.remove(np.arange(0, 6000))
    stats = idx.stats()
    assert sum(s["rows"] for s in stats["segments"]) == 4000  # rebuilt without the dead rows
    assert all(s["dead"] == 0 for s in stats["segments"])
    assert_same(idx.search(hashes[7000], 0), (np.array([7000]), np.array([0], np.int32)))
    idx.remove(np.arange(10_000))
    assert len(idx) == 0 and idx.stats()["segments"] == []
    assert len(idx.search(hashes[7000], 256)) == 0


def test_background_merges_lose_nothing_while_changes_continue() -> None:
    """Adds and removes racing a background merge: the merge must re-apply late removals."""
    rng = np.random.default_rng(4)
    idx, model = PdqIndex(background=True), Model()
    for round_ in range(8):
        k = 9000
        ids = np.arange(round_ * k, (round_ + 1) * k)
        hashes = random_hashes(rng, k)
        idx.add(ids, hashes)  # bulk segments: merges start in the background
        model.add(ids, hashes)
        live = np.array(list(model.rows))
        gone = rng.choice(live, 700, replace=False)
        for chunk in np.array_split(gone, 7):  # removals while a merge may be building
            idx.remove(chunk)
            model.remove(chunk)
        small = random_hashes(rng, 50)
        small_ids = np.arange(10**7 + round_ * 50, 10**7 + round_ * 50 + 50)
        idx.add(small_ids, small)
        model.add(small_ids, small)
        check(idx, model, rng)
    deadline = time.monotonic() + 20
    while len(idx.stats()["segments"]) > 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(idx, model, rng)
    idx.compact()
    assert len(idx.stats()["segments"]) == 1
    check(idx, model, rng)


def test_concurrent_searches_during_changes() -> None:
    rng = np.random.default_rng(5)
    base = random_hashes(rng, 30_000)
    idx = PdqIndex.build(np.arange(30_000), base)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                i = int(r.integers(0, 960))  # rows 0..999 are never touched by the writer
                res = idx.search(base[i], 3)
                assert i in res.ids
                batch = idx.search_batch(base[i : i + 40], 0)
                assert all(i + j in b.ids for j, b in enumerate(batch))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    try:
        for step in range(300):
            new = random_hashes(rng, 30)
            ids = np.arange(100_000 + step * 30, 100_000 + step * 30 + 30)
            idx.add(ids, new)
            assert all(len(idx.search(h, 0)) == 1 for h in new[:3])  # visible to the next search
            idx.remove(rng.integers(1000, 30_000, 10))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_add_visibility_is_immediate_and_fast() -> None:
    """Functional check (the timing figure lives in benchmarks/bench_index.py): each add is seen
    by the next search, across delta seals."""
    rng = np.random.default_rng(6)
    idx = PdqIndex.build(np.arange(20_000), random_hashes(rng, 20_000))
    new = random_hashes(rng, pdq_module.SEAL_ROWS + 50)
    for i in range(0, len(new), 7):
        chunk = new[i : i + 7]
        idx.add(np.arange(10**6 + i, 10**6 + i + len(chunk)), chunk)
        assert 10**6 + i in idx.search(new[i], 0).ids
    assert len(idx) == 20_000 + len(new)


def test_invalid_inputs_are_rejected_clearly() -> None:
    idx = PdqIndex()
    with pytest.raises(ValueError, match="32 bytes"):
        idx.add([1], b"\x00" * 31)
    with pytest.raises(ValueError, match="ids but"):
        idx.add([1, 2], b"\x00" * 32)
    with pytest.raises(ValueError, match="integers"):
        idx.add(np.array([1.5]), b"\x00" * 32)
    with pytest.raises(ValueError, match="non-negative"):
        idx.search(b"\x00" * 32, -1)
    with pytest.raises(ValueError, match="one hash"):
        idx.search(b"\x00" * 64, 3)
    with pytest.raises(ValueError, match="uint8"):
        idx.search_batch(np.zeros((2, 32), dtype=np.int64), 3)
    assert len(idx.search(b"\x00" * 32, 31)) == 0
    assert "x" not in idx and 2**70 not in idx and True not in idx  # type: ignore[operator]
    idx.add([], np.empty((0, 32), np.uint8))
    idx.remove([])
    assert len(idx) == 0


def test_a_merge_that_finds_its_segments_moved_is_refused_and_the_index_stays_exact() -> None:
    """The invariant is a real check (an ``assert`` vanishes under ``python -O`` and the merge would
    splice the wrong segments)."""
    from takeback.index.mih import Segment, hash_words

    rng = np.random.default_rng(5)
    idx = PdqIndex(background=False)
    model = Model()
    segments = []
    for part in range(3):
        ids = np.arange(part * 100, part * 100 + 100, dtype=np.int64)
        hashes = random_hashes(rng, 100)
        model.add(ids, hashes)
        segments.append(Segment.build(ids, hash_words(hashes), widths=()))
    idx._segments = tuple(segments)
    idx._live = 300
    with pytest.raises(pdq_module.PdqIndexError) as err:
        idx._merge_step(lambda: [segments[0], segments[2]])  # not next to each other
    assert err.value.code == "index_merge_conflict"
    assert idx._segments == tuple(segments)
    check(idx, model, rng)


def test_index_threads_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from takeback.config import get_settings
    from takeback.index import mih

    monkeypatch.setenv("TAKEBACK_INDEX_THREADS", "3")
    get_settings.cache_clear()
    try:
        assert mih.index_threads() == 3
        monkeypatch.setenv("TAKEBACK_INDEX_THREADS", "0")
        get_settings.cache_clear()
        assert mih.index_threads() == (os.cpu_count() or 1)
    finally:
        monkeypatch.delenv("TAKEBACK_INDEX_THREADS")
        get_settings.cache_clear()
