"""Helpers for index tests: random hashes, planted neighbours and an independent brute-force oracle."""

from __future__ import annotations

import numpy as np


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def flip_bits(h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of the 32-byte hash ``h`` with exactly ``k`` distinct bits flipped."""
    bits = np.unpackbits(np.asarray(h, dtype=np.uint8).reshape(32))
    bits[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits)


def brute_force(
    hashes: np.ndarray, ids: np.ndarray, query: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) within ``radius``, sorted by distance then id; bit-by-bit, no tricks."""
    if hashes.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    diff = np.bitwise_xor(hashes, np.asarray(query, dtype=np.uint8).reshape(1, 32))
    d = np.bitwise_count(diff).sum(axis=1, dtype=np.int32)
    hit = np.flatnonzero(d <= radius)
    order = np.lexsort((ids[hit], d[hit]))
    return ids[hit][order].astype(np.int64), d[hit][order]


def brute_force_batch(
    hashes: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``brute_force`` for many queries: per-word popcounts added column by column (plain ints)."""
    words = hashes.view(">u8").astype(np.uint64)
    qwords = np.asarray(queries, dtype=np.uint8).reshape(-1, 32).view(">u8").astype(np.uint64)
    out = []
    for q in qwords:
        pc = np.bitwise_count(words ^ q)
        d = pc[:, 0].astype(np.int32) + pc[:, 1] + pc[:, 2] + pc[:, 3]
        hit = np.flatnonzero(d <= radius)
        order = np.lexsort((ids[hit], d[hit]))
        out.append((ids[hit][order].astype(np.int64), d[hit][order]))
    return out


def assert_same(result: object, expected: tuple[np.ndarray, np.ndarray], context: object = "") -> None:
    ids = result.ids  # type: ignore[attr-defined]
    dist = result.distances  # type: ignore[attr-defined]
    assert ids.dtype == np.int64 and dist.dtype == np.int32
    assert np.array_equal(ids, expected[0]), f"ids differ {context}: {ids[:10]} vs {expected[0][:10]}"
    assert np.array_equal(dist, expected[1]), f"distances differ {context}"
