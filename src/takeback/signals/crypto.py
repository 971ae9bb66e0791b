"""Cryptographic file hashes: exact identity of bytes, for any file type.

They catch only byte-identical copies (one re-encode defeats them), which is why PDQ exists, but they
are what courts, NSRL and the coreutils ``*sum`` tools speak.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from takeback.signals.base import ContentType, Hasher, IndexKind, SignalType


class _ExactHash(SignalType):
    content_types: ClassVar[frozenset[ContentType]] = frozenset(
        {ContentType.FILE, ContentType.PHOTO, ContentType.VIDEO}
    )
    index_kind = IndexKind.EXACT
    default_threshold = 0

    def distance(self, a: bytes, b: bytes) -> int:
        """0 when equal, 1 otherwise: exact hashes have no notion of "close"."""
        return 0 if a == b else 1

    def hasher(self) -> Hasher:
        return hashlib.new(self.name, usedforsecurity=False)


class Sha256Signal(_ExactHash):
    """SHA-256 of the file's bytes: the identity used in evidence and custody records."""

    name = "sha256"
    size = 32
    examples = ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",)


class Md5Signal(_ExactHash):
    """MD5 of the file's bytes: broken for security, still the lingua franca of hash lists (NSRL, VICS)."""

    name = "md5"
    hma_name = "video_md5"  # HMA hashes videos to MD5 and names the type for that
    size = 16
    examples = ("d41d8cd98f00b204e9800998ecf8427e",)
