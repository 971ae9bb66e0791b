"""What every signal type declares about itself (the python-threatexchange ``SignalType`` idea).

A signal is a fingerprint of content. Each type is one small object saying its name, which content
it applies to, how values are validated and compared, and the default match threshold, so the bank,
index and API layers never special-case a type by name.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from takeback.errors import TakebackError, article


class SignalError(TakebackError):
    """A signal value is malformed (wrong length, not hex, unknown type)."""

    code = "invalid_signal"


class ContentType(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    FILE = "file"  # any bytes: cryptographic hashes apply to everything


class IndexKind(StrEnum):
    EXACT = "exact"  # equality lookup (cryptographic hashes)
    HAMMING256 = "hamming256"  # range search in 256-bit Hamming space (PDQ)


@dataclass(frozen=True, slots=True)
class SignalValue:
    """One computed signal: the type's name, the raw value bytes, and a quality where the type has one."""

    signal_type: str
    value: bytes
    quality: int | None = None

    @property
    def hex(self) -> str:
        return self.value.hex()


class SignalType(ABC):
    """A kind of fingerprint. Instances are stateless; the registry holds one of each."""

    name: ClassVar[str]
    content_types: ClassVar[frozenset[ContentType]]
    index_kind: ClassVar[IndexKind]
    #: distance at or below which two values are considered a match (0 for exact types)
    default_threshold: ClassVar[int]
    #: value length in bytes
    size: ClassVar[int]
    #: valid example values, for docs, API schemas and tests
    examples: ClassVar[tuple[str, ...]]

    _HEX = re.compile(r"^[0-9a-f]*$")

    def validate(self, value: str, *, field: str | None = None) -> bytes:
        """Parse a hex string (any case, surrounding space ignored) into the value's bytes."""
        text = value.strip().lower() if isinstance(value, str) else ""
        label = field or self.name
        if len(text) != self.size * 2:
            raise SignalError(
                f"{label}: {article(self.name)} {self.name} hash is {self.size * 2} hex characters; "
                f"got {len(text)}."
            )
        if not self._HEX.match(text):
            raise SignalError(f"{label}: {article(self.name)} {self.name} hash may contain only 0-9 and a-f.")
        return bytes.fromhex(text)

    def format(self, value: bytes) -> str:
        """Lowercase hex, the one textual form at every edge (CLI, API, exports)."""
        return value.hex()

    def value_ok(self, value: bytes) -> bool:
        """Whether stored bytes have this type's shape (a variable-length type overrides this)."""
        return len(value) == self.size

    @abstractmethod
    def distance(self, a: bytes, b: bytes) -> int:
        """Distance between two values of this type (0 means identical)."""

    def matches(self, a: bytes, b: bytes, threshold: int | None = None) -> bool:
        limit = self.default_threshold if threshold is None else threshold
        return self.distance(a, b) <= limit
