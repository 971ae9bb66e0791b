"""SHA-256, MD5 and SHA-1 of content too large to hold in memory, computed as it streams past.

The three digests run in parallel threads (hashlib releases the GIL on large buffers), so a
10-GB file costs about the time of the slowest digest, not the sum of the three.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="digest")
    return _POOL


class Digests:
    """``update`` with successive chunks, then read ``sha256``, ``md5``, ``sha1`` (hex)."""

    def __init__(self, first: bytes = b"") -> None:
        self._h: tuple[Any, ...] = (
            hashlib.sha256(),
            hashlib.md5(usedforsecurity=False),
            hashlib.sha1(usedforsecurity=False),
        )
        self.size = 0
        if first:
            self.update(first)

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self.size += len(chunk)
        if len(chunk) < 1 << 16:
            for h in self._h:
                h.update(chunk)
            return
        for f in [_pool().submit(h.update, chunk) for h in self._h]:
            f.result()

    @property
    def sha256(self) -> str:
        return str(self._h[0].hexdigest())

    @property
    def md5(self) -> str:
        return str(self._h[1].hexdigest())

    @property
    def sha1(self) -> str:
        return str(self._h[2].hexdigest())
