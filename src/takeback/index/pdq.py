"""Exact Hamming range search over PDQ hashes, with incremental add and remove.

INTERFACE CONTRACT (used by ``takeback.matching``; keep it stable):

- ``PdqIndex()`` empty index.
- ``add(ids, hashes)``: ``ids`` int64 (n,), unique, caller-chosen (content_signal row ids);
  ``hashes`` uint8 (n, 32) raw PDQ bytes (big-endian, as ``bytes.fromhex(hex)``). Re-adding an id
  that is present replaces its hash.
- ``remove(ids)``: ids not present are ignored.
- ``search(query, radius) -> SearchResult``: every stored hash with distance <= radius, no misses.
- ``search_batch(queries, radius) -> list[SearchResult]``: same for a (m, 32) uint8 array.
- ``__len__``, ``__contains__(id)``.
- ``save(path)`` / ``PdqIndex.load(path)``: documented binary format, no pickle, checksummed;
  ``load`` raises ``PdqIndexError`` (code ``index_corrupt``) on any mismatch so the caller rebuilds.
- ``watermark``: an int the owner may set (e.g. the store's change-log sequence the index reflects);
  saved and loaded with the index.

Every change is visible to the very next search (no rebuild step).

This first implementation is a brute-force scan (correct, simple); the multi-index-hashing engine
replaces its internals without changing the contract.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from takeback.errors import TakebackError

HASH_BYTES = 32
_MAGIC = b"TBPDQIX1"


class PdqIndexError(TakebackError):
    code = "index_error"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Matches of one query: ids and distances, sorted by distance then id."""

    ids: np.ndarray  # int64
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def as_hash_array(hashes: np.ndarray | bytes | list[bytes]) -> np.ndarray:
    """Normalise hashes to a C-contiguous uint8 (n, 32) array."""
    if isinstance(hashes, bytes | bytearray):
        arr = np.frombuffer(bytes(hashes), dtype=np.uint8)
    elif isinstance(hashes, list):
        arr = np.frombuffer(b"".join(hashes), dtype=np.uint8) if hashes else np.empty(0, np.uint8)
    else:
        arr = np.asarray(hashes, dtype=np.uint8)
    return np.ascontiguousarray(arr.reshape(-1, HASH_BYTES))


class PdqIndex:
    """Brute-force reference implementation of the contract above."""

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._words = np.empty((0, 4), dtype=np.uint64)
        self.watermark = 0

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __contains__(self, content_id: object) -> bool:
        return bool(np.any(self._ids == content_id))

    def add(self, ids: np.ndarray | list[int], hashes: np.ndarray | bytes | list[bytes]) -> None:
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        words = as_hash_array(hashes).view(">u8").astype(np.uint64)
        if words.shape[0] != ids_arr.shape[0]:
            raise ValueError("ids and hashes differ in length")
        self.remove(ids_arr)
        self._ids = np.concatenate([self._ids, ids_arr])
        self._words = np.concatenate([self._words, words])

    def remove(self, ids: np.ndarray | list[int]) -> None:
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids_arr.size and self._ids.size:
            keep = ~np.isin(self._ids, ids_arr)
            self._ids, self._words = self._ids[keep], self._words[keep]

    def search(self, query: bytes | np.ndarray, radius: int) -> SearchResult:
        return self.search_batch(as_hash_array(query), radius)[0]

    def search_batch(self, queries: np.ndarray, radius: int) -> list[SearchResult]:
        q = as_hash_array(queries).view(">u8").astype(np.uint64)
        out = []
        for row in q:
            d = np.bitwise_count(self._words ^ row).sum(axis=1, dtype=np.int32)
            hit = np.nonzero(d <= radius)[0]
            order = np.lexsort((self._ids[hit], d[hit]))
            out.append(SearchResult(self._ids[hit][order], d[hit][order].astype(np.int32)))
        return out

    # --- persistence: header | ids | hashes | sha256 of everything before -----------------------
    def save(self, path: Path) -> None:
        n = len(self)
        body = (
            _MAGIC
            + struct.pack("<QQ", n, self.watermark)
            + self._ids.astype("<i8").tobytes()
            + self._words.astype(">u8").tobytes()
        )
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(body + hashlib.sha256(body).digest())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> PdqIndex:
        data = path.read_bytes()
        if len(data) < len(_MAGIC) + 16 + 32 or not data.startswith(_MAGIC):
            raise PdqIndexError("Index file is not a takeback PDQ index.", code="index_corrupt")
        body, digest = data[:-32], data[-32:]
        if hashlib.sha256(body).digest() != digest:
            raise PdqIndexError("Index file checksum mismatch.", code="index_corrupt")
        n, watermark = struct.unpack_from("<QQ", body, len(_MAGIC))
        off = len(_MAGIC) + 16
        if len(body) != off + n * 8 + n * HASH_BYTES:
            raise PdqIndexError("Index file length does not match its header.", code="index_corrupt")
        idx = cls()
        idx._ids = np.frombuffer(body, dtype="<i8", count=n, offset=off).astype(np.int64)
        idx._words = np.frombuffer(body, dtype=">u8", count=n * 4, offset=off + n * 8).astype(np.uint64)
        idx._words = idx._words.reshape(n, 4)
        idx.watermark = int(watermark)
        return idx
