"""What every signal type declares about itself (the python-threatexchange ``SignalType`` idea).

A signal is a fingerprint of content. Each type is one small object saying its name, which content
it applies to, how it is computed, how values are validated, formatted and compared, the default
match threshold and the index that searches it, so the bank, matching, triage and API layers never
special-case a type by name: they ask the type. Values are bytes everywhere inside; hex (or a type's
own text form) appears only at the edges (records, HTTP, files), through :meth:`SignalType.validate`
and :meth:`SignalType.format`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from takeback.errors import TakebackError, article


class SignalError(TakebackError):
    """A signal value is malformed (wrong length, not hex, unknown type)."""

    code = "invalid_signal"


class ContentType(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    FILE = "file"  # any bytes: cryptographic hashes apply to everything


class IndexKind(StrEnum):
    """Which index searches a type's values; the matcher picks the index from this, never the name."""

    EXACT = "exact"  # equality lookup (cryptographic hashes): the store's (signal_type, value) B-tree
    HAMMING256 = "hamming256"  # range search in 256-bit Hamming space (PDQ; vPDQ's frames)
    #: cosine similarity of embeddings (faces): searched only against consented enrolments by
    #: ``takeback.faces``, never by the bank matcher
    COSINE = "cosine"


@dataclass(frozen=True, slots=True)
class SignalValue:
    """One computed signal: the type's name, the raw value bytes, and a quality where the type has one.

    ``variants`` are other forms of the same content that a query also searches, ``[0]`` being
    ``value`` itself (PDQ's eight orientations, named by the type's ``variant_names``); empty when
    there are none. Banks store ``value`` alone.
    """

    signal_type: str
    value: bytes
    quality: int | None = None
    variants: tuple[bytes, ...] = ()

    @property
    def hex(self) -> str:
        return self.value.hex()

    @property
    def searched(self) -> tuple[bytes, ...]:
        """Every value a query searches: the variants when there are some, else the value."""
        return self.variants or (self.value,)


class Hasher(Protocol):
    """An incremental digest over a file's bytes (the ``hashlib`` interface)."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


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
    #: values carry a quality (0-100); below ``low_quality_below`` a match needs checking by eye
    has_quality: ClassVar[bool] = False
    low_quality_below: ClassVar[int | None] = None
    #: names of a value's variants, in order (``SignalValue.variants``), e.g. PDQ's orientations,
    #: and the record field listing them (``pdq_dihedral``)
    variant_names: ClassVar[tuple[str, ...]] = ()
    variants_field: ClassVar[str | None] = None
    #: a value is a bag of frame hashes (a video), judged as a whole by ``matching.video_banks``
    #: rather than one value at a time by the matcher's indexes
    bag_of_frames: ClassVar[bool] = False
    #: the name HMA (OpenMediaMatch) gives this type on its wire, where it differs (``video_md5``)
    hma_name: ClassVar[str | None] = None
    #: values describe a person (a face): kept out of ``REGISTRY`` (banks, exports, HMA routes and
    #: hash records never see them) and held in ``signals.PERSONAL``
    personal: ClassVar[bool] = False

    _HEX = re.compile(r"^[0-9a-f]*$")

    def hasher(self) -> Hasher | None:
        """A fresh incremental digest when the type is computed from a file's bytes as they stream
        past (cryptographic hashes); ``None`` for types computed from decoded content."""
        return None

    def is_low_quality(self, quality: int | None) -> bool:
        """Whether a value of this quality is too weak to trust without a look."""
        limit = self.low_quality_below
        return limit is not None and quality is not None and quality < limit

    @property
    def wire_name(self) -> str:
        """The type's name on HMA's routes."""
        return self.hma_name or self.name

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
