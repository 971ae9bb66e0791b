"""Save/load round trips and the detection of damaged index files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from takeback.index import PdqIndex, PdqIndexError, fileformat

from .conftest import assert_same, brute_force, flip_bits, random_hashes


def mixed_index(rng: np.random.Generator) -> tuple[PdqIndex, dict[int, bytes]]:
    """An index with a table segment, a scanned segment, tombstones and a non-empty delta."""
    idx = PdqIndex(background=False)
    big = random_hashes(rng, 30_000)
    idx.add(np.arange(30_000), big)
    idx.add(np.arange(40_000, 40_000 + 4500), random_hashes(rng, 4500))
    idx.add(np.arange(50_000, 50_300), np.array([flip_bits(big[i], 5, rng) for i in range(300)]))
    idx.remove(np.arange(0, 30_000, 7))
    idx.watermark = 987_654_321_012
    rows = {}
    for seg in idx._segments:
        live_ids, live_words = seg.live_rows()
        for i, w in zip(live_ids.tolist(), live_words, strict=True):
            rows[i] = w.astype(">u8").tobytes()
    d_ids, d_words, d_dead, _ = idx._delta.view()
    for i, w, dead in zip(d_ids.tolist(), d_words, d_dead, strict=True):
        if not dead:
            rows[i] = w.astype(">u8").tobytes()
    return idx, rows


def as_arrays(rows: dict[int, bytes]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(sorted(rows), dtype=np.int64)
    return ids, np.frombuffer(b"".join(rows[i] for i in ids.tolist()), np.uint8).reshape(-1, 32)


@pytest.mark.parametrize("use_mmap", [True, False])
def test_round_trip_keeps_every_answer(tmp_path: Path, use_mmap: bool) -> None:
    rng = np.random.default_rng(0)
    idx, rows = mixed_index(rng)
    ids, hashes = as_arrays(rows)
    assert len(idx) == len(ids)
    path = tmp_path / "pdq.idx"
    idx.save(path)
    loaded = PdqIndex.load(path, use_mmap=use_mmap)
    assert loaded.watermark == 987_654_321_012
    assert len(loaded) == len(idx) and np.array_equal(loaded.ids(), ids)
    assert [s["widths"] for s in loaded.stats()["segments"]][:2] == [
        s["widths"] for s in idx.stats()["segments"]
    ][:2]
    queries = np.concatenate([hashes[rng.integers(0, len(ids), 20)], random_hashes(rng, 5)])
    queries[:10] = [flip_bits(q, 9, rng) for q in queries[:10]]
    for r in (0, 31, 70):
        for q, got in zip(queries, loaded.search_batch(queries, r), strict=True):
            want = brute_force(hashes, ids, q, r)
            assert_same(loaded.search(q, r), want)
            assert_same(got, want)

    # a loaded (memory-mapped, read-only) index still takes changes
    loaded.remove(ids[:10])
    loaded.add([10**9], hashes[10:11])
    assert ids[0] not in loaded and 10**9 in loaded
    assert set(loaded.search(hashes[10], 0).ids) == {ids[10], 10**9}
    loaded.compact()
    assert len(loaded) == len(ids) - 9
    loaded.save(path)  # overwrite the file it is mapped from: atomic rename keeps the old mapping valid
    again = PdqIndex.load(path)
    assert np.array_equal(again.ids(), loaded.ids())


def test_empty_and_one_hash_round_trip(tmp_path: Path) -> None:
    empty = PdqIndex()
    empty.watermark = -5
    empty.save(tmp_path / "e.idx")
    loaded = PdqIndex.load(tmp_path / "e.idx")
    assert len(loaded) == 0 and loaded.watermark == -5 and len(loaded.search(b"\1" * 32, 256)) == 0

    one = PdqIndex()
    one.add([3], b"\xab" * 32)
    one.save(tmp_path / "o.idx")
    loaded = PdqIndex.load(tmp_path / "o.idx")
    assert list(loaded.search(b"\xab" * 32, 0).ids) == [3]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    rng = np.random.default_rng(1)
    idx, _ = mixed_index(rng)
    path = tmp_path_factory.mktemp("idx") / "pdq.idx"
    idx.save(path)
    return path.read_bytes()


def section_offsets(data: bytes) -> list[tuple[int, int, int, int]]:
    n_seg, n_sec = struct.unpack_from("<II", data, 32)
    base = 64 + 64 * n_seg
    return [struct.unpack_from("<IIQQ", data, base + 64 * i) for i in range(n_sec)]


def expect_corrupt(path: Path, data: bytes, match: str | None = None) -> None:
    path.write_bytes(data)
    with pytest.raises(PdqIndexError, match=match) as info:
        PdqIndex.load(path)
    assert info.value.code == "index_corrupt"
    assert "rebuild" in info.value.message


def test_every_section_is_checksummed(tmp_path: Path, saved: bytes) -> None:
    secs = section_offsets(saved)
    kinds = {kind for _, kind, _, _ in secs}
    assert kinds == {fileformat.IDS, fileformat.WORDS, fileformat.DEAD, fileformat.TABLE_ROWS,
                     fileformat.BLOCK_BASE, fileformat.LOW}  # fmt: skip
    for _si, kind, off, nbytes in secs:
        for where in (off, off + nbytes // 2, off + nbytes - 1):
            bad = bytearray(saved)
            bad[where] ^= 0x01
            expect_corrupt(tmp_path / "bad.idx", bytes(bad), f"section {kind}")


def test_header_damage_is_detected(tmp_path: Path, saved: bytes) -> None:
    for where in (8, 16, 24, 40, 64 + 3, 64 * 2 + 20):  # version, watermark, live, size, tables
        bad = bytearray(saved)
        bad[where] ^= 0x10
        expect_corrupt(tmp_path / "bad.idx", bytes(bad))
    bad = bytearray(saved)
    bad[:8] = b"NOTANIDX"
    expect_corrupt(tmp_path / "bad.idx", bytes(bad), "magic")


def test_truncated_extended_and_empty_files(tmp_path: Path, saved: bytes) -> None:
    for cut in (0, 10, 63, 64, 200, 4096, len(saved) // 2, len(saved) - 1):
        expect_corrupt(tmp_path / "short.idx", saved[:cut])
    expect_corrupt(tmp_path / "long.idx", saved + b"\0")


def test_missing_file_has_its_own_code(tmp_path: Path) -> None:
    with pytest.raises(PdqIndexError) as info:
        PdqIndex.load(tmp_path / "nope.idx")
    assert info.value.code == "index_missing"


def test_no_pickle_in_the_format(saved: bytes) -> None:
    assert saved[:8] == b"TBPDQIDX"
    assert b"\x80\x04\x95" not in saved[:4096] and b"numpy" not in saved
