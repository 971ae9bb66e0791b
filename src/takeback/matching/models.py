"""What a match query is and what it returns: records that explain themselves.

Each match names the bank, the entry, the signal that matched, its distance and the threshold it
was held to, the orientation (for rotated/flipped copies) and, where an allow-list entry matched the
same query, which one suppressed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from takeback.banks.models import Bank, is_active
from takeback.clock import as_utc
from takeback.signals import SignalError, get_signal_type
from takeback.signals.fingerprint import Fingerprint
from takeback.signals.pdq import DIHEDRAL_NAMES, LOW_QUALITY


@dataclass(frozen=True, slots=True)
class BankPolicy:
    """A bank's matching rules as a matcher holds them between change-log reloads."""

    id: int
    name: str
    threshold: int
    allow_list: bool
    enabled: bool
    disabled_until: datetime | None
    #: HMA's ``enabled_ratio`` while enabled (the HMA lookup routes flip a coin against it)
    ratio: float = 1.0

    @classmethod
    def from_bank(cls, b: Bank) -> BankPolicy:
        ratio = b.matching_ratio if b.matching_ratio is not None else 1.0
        return cls(b.id, b.name, b.pdq_threshold, b.is_allow_list, b.enabled, as_utc(b.disabled_until), ratio)

    def active(self, now: datetime) -> bool:
        return is_active(self.enabled, self.disabled_until, now)


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """The signals of one input (a file's fingerprint or hashes given directly), as raw bytes."""

    label: str
    pdq: bytes | None = None
    pdq_quality: int | None = None
    #: the 8 orientation hashes in ``DIHEDRAL_NAMES`` order (``[0]`` is ``pdq``), when asked for
    pdq_dihedral: tuple[bytes, ...] | None = None
    md5: bytes | None = None
    sha256: bytes | None = None
    error: dict[str, str] | None = None

    @classmethod
    def from_fingerprint(cls, fp: Fingerprint) -> MatchQuery:
        return cls(
            label=fp.path,
            pdq=bytes.fromhex(fp.pdq) if fp.pdq else None,
            pdq_quality=fp.pdq_quality,
            pdq_dihedral=tuple(bytes.fromhex(h) for h in fp.pdq_dihedral) if fp.pdq_dihedral else None,
            md5=bytes.fromhex(fp.md5) if fp.md5 else None,
            sha256=bytes.fromhex(fp.sha256) if fp.sha256 else None,
            error=fp.error,
        )

    @classmethod
    def from_hex(
        cls,
        *,
        pdq: str | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        pdq_quality: int | None = None,
        label: str | None = None,
    ) -> MatchQuery:
        """A query from hashes typed or sent by a person; malformed values raise ``SignalError``."""
        values = {
            name: get_signal_type(name).validate(v, field=name) if v is not None else None
            for name, v in (("pdq", pdq), ("md5", md5), ("sha256", sha256))
        }
        given = [f"{k}:{v.hex()}" for k, v in values.items() if v is not None]
        if not given:
            raise SignalError("Give at least one of pdq, md5, sha256 to match.")
        shown = label or given[0]
        return cls(
            label=shown,
            pdq=values["pdq"],
            pdq_quality=pdq_quality,
            md5=values["md5"],
            sha256=values["sha256"],
        )

    @property
    def pdq_orientations(self) -> tuple[bytes, ...]:
        if self.pdq_dihedral:
            return self.pdq_dihedral
        return (self.pdq,) if self.pdq is not None else ()

    @property
    def low_quality(self) -> bool:
        return self.pdq_quality is not None and self.pdq_quality < LOW_QUALITY


@dataclass(frozen=True, slots=True)
class Suppressor:
    """The allow-list entry that suppressed a match (``bank`` and ``content_id`` are ``None`` when
    the caller may not see that bank: a bank's name can identify a case)."""

    bank: str | None
    content_id: int | None
    signal_type: str
    distance: int
    bank_id: int | None = None

    def hidden(self) -> Suppressor:
        """This suppressor as a caller outside its bank sees it: that an allow-list applied, not whose."""
        return replace(self, bank=None, content_id=None, bank_id=None)

    def to_record(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "content_id": self.content_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
        }


@dataclass(frozen=True, slots=True)
class Match:
    bank: str
    bank_id: int
    allow_list: bool
    content_id: int
    signal_type: str
    distance: int
    threshold: int
    #: which orientation of the query matched (``None`` unless dihedral matching was asked for)
    orientation: str | None
    note: str | None
    metadata: dict[str, Any]
    source: str | None
    #: quality of the bank's stored PDQ hash, where known
    stored_quality: int | None
    #: the query's or the stored PDQ hash has quality < 50: treat the match with care
    low_quality: bool
    suppressed_by: Suppressor | None = None
    #: the entry and its bank are enabled (always, unless the lookup asked for disabled ones too)
    entry_active: bool = True
    bank_active: bool = True
    #: the bank's HMA ``enabled_ratio`` (see ``BankPolicy.ratio``)
    bank_ratio: float = 1.0

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None

    def explain(self) -> str:
        """One sentence a person can read aloud."""
        how = (
            f"{self.signal_type} distance {self.distance} <= threshold {self.threshold}"
            if self.signal_type == "pdq"
            else f"identical {self.signal_type}"
        )
        if self.orientation and self.orientation != DIHEDRAL_NAMES[0]:
            how += f" (query {self.orientation})"
        what = "allow-list entry" if self.allow_list else "entry"
        text = f"{how}: {what} {self.content_id} of bank {self.bank}"
        if self.low_quality:
            text += "; low-quality PDQ hash, check by eye"
        if self.suppressed_by:
            s = self.suppressed_by
            if s.bank is None:
                text += "; suppressed by an allow-list entry in a bank this key cannot see"
            else:
                text += f"; suppressed by allow-list entry {s.content_id} of bank {s.bank}"
        return text

    def to_record(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "content_id": self.content_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "threshold": self.threshold,
            "orientation": self.orientation,
            "allow_list": self.allow_list,
            "suppressed": self.suppressed,
            "suppressed_by": self.suppressed_by.to_record() if self.suppressed_by else None,
            "low_quality": self.low_quality,
            "note": self.note,
            "metadata": self.metadata,
            "source": self.source,
            "explanation": self.explain(),
        }


@dataclass(slots=True)
class MatchResult:
    """Every match of one query; ``status`` sums it up for a caller deciding what to do."""

    query: MatchQuery
    matches: list[Match] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``match`` (an unsuppressed match in a blocking bank), ``allow_listed`` (only allow-list or
        suppressed matches), ``no_match``, or ``error`` (the input could not be fully hashed and
        nothing matched: its file hashes missing a bank says nothing about its pixels, so it must
        never read as "no match")."""
        if any(not m.allow_list and not m.suppressed for m in self.matches):
            return "match"
        if self.matches:
            return "allow_listed"
        if self.query.error:
            return "error"
        return "no_match"

    def to_record(self) -> dict[str, Any]:
        q = self.query
        return {
            "input": q.label,
            "status": self.status,
            "pdq": q.pdq.hex() if q.pdq is not None else None,
            "pdq_quality": q.pdq_quality,
            "low_quality": q.low_quality,
            "md5": q.md5.hex() if q.md5 is not None else None,
            "sha256": q.sha256.hex() if q.sha256 is not None else None,
            "dihedral": q.pdq_dihedral is not None,
            "matches": [m.to_record() for m in self.matches],
            "error": q.error,
        }
