"""Small factories for bank tests: random hashes, hashes at an exact Hamming distance, entries."""

from __future__ import annotations

import numpy as np

from takeback.banks.service import NewContent
from takeback.signals import SignalValue


def rand_bytes(rng: np.random.Generator, n: int = 32) -> bytes:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def flip(value: bytes, bits: int, rng: np.random.Generator) -> bytes:
    """``value`` with exactly ``bits`` distinct bits flipped."""
    arr = np.unpackbits(np.frombuffer(value, dtype=np.uint8))
    idx = rng.choice(arr.size, size=bits, replace=False)
    arr[idx] ^= 1
    return np.packbits(arr).tobytes()


def pdq_entry(value: bytes, *, quality: int | None = 90, note: str | None = None, **kw: object) -> NewContent:
    return NewContent(signals=(SignalValue("pdq", value, quality),), note=note, **kw)  # type: ignore[arg-type]
