"""A signal type that exists only in the tests: the whole of what adding a type takes.

BLAKE2b-64 of a file's bytes, matched exactly. It is one class and one ``register`` call (the
``toy_signal`` fixture); hashing, banks, matching, the HTTP routes and exports pick it up from the
registry without a line changed anywhere else (``tests/web/test_toy_signal.py`` shows each).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from takeback.signals import ContentType, Hasher, IndexKind, SignalType


class ToySignal(SignalType):
    """BLAKE2b with an 8-byte digest: short enough to see at a glance, exact like SHA-256."""

    name = "toy64"
    content_types: ClassVar[frozenset[ContentType]] = frozenset(
        {ContentType.FILE, ContentType.PHOTO, ContentType.VIDEO}
    )
    index_kind = IndexKind.EXACT
    default_threshold = 0
    size = 8
    examples = ("786a02f742015903",)

    def distance(self, a: bytes, b: bytes) -> int:
        return 0 if a == b else 1

    def hasher(self) -> Hasher:
        return hashlib.blake2b(digest_size=self.size)
