"""What a match query is and what it returns: records that explain themselves.

Each match names the bank, the entry, the signal that matched, its distance and the threshold it
was held to, the orientation (for rotated/flipped copies) and, where an allow-list entry matched the
same query, which one suppressed it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from takeback.banks.models import Bank, is_active
from takeback.clock import as_utc
from takeback.signals import IndexKind, SignalError, SignalValue, get_signal_type, single_value_types
from takeback.signals.fingerprint import Fingerprint


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
        # the cap (an exchange's --max-pdq-distance) bounds the radius searched and every judgement
        return cls(
            b.id, b.name, b.effective_threshold, b.is_allow_list, b.enabled, as_utc(b.disabled_until), ratio
        )

    def active(self, now: datetime) -> bool:
        return is_active(self.enabled, self.disabled_until, now)


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """The signals of one input (a file's fingerprint or hashes given directly): ``{type: value(s)}``.

    Each ``SignalValue`` is raw bytes; its ``variants`` (PDQ's orientations, when dihedral matching
    was asked for) are searched too. The matcher picks each type's index from the type, so a query
    may carry any registered type; bags of frames (a video's vPDQ) are matched by the video matcher.
    """

    label: str
    signals: Mapping[str, SignalValue] = field(default_factory=dict)
    error: dict[str, str] | None = None

    @classmethod
    def from_fingerprint(cls, fp: Fingerprint, *, types: Collection[str] | None = None) -> MatchQuery:
        """THE query of a file: its signals (only ``types``, when given) and its error."""
        signals = fp.signals if types is None else {k: v for k, v in fp.signals.items() if k in types}
        return cls(label=fp.path, signals=dict(signals), error=fp.error)

    @classmethod
    def of(cls, label: str = "query", /, **values: bytes | None) -> MatchQuery:
        """A query from value bytes by type name (``MatchQuery.of("q", pdq=h, md5=m)``)."""
        return cls(label=label, signals={k: SignalValue(k, v) for k, v in values.items() if v is not None})

    @classmethod
    def from_hex(
        cls,
        *,
        pdq: str | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        pdq_quality: int | None = None,
        label: str | None = None,
        **others: str | None,
    ) -> MatchQuery:
        """A query from hashes typed or sent by a person (``{type: text}``; each type's ``validate``
        reads its text); malformed values raise ``SignalError``."""
        texts = {"pdq": pdq, "md5": md5, "sha256": sha256, **others}
        signals = {
            name: SignalValue(
                name,
                get_signal_type(name).validate(v, field=name),
                pdq_quality if get_signal_type(name).has_quality else None,
            )
            for name, v in texts.items()
            if v is not None
        }
        if not signals:
            raise SignalError("Give at least one of pdq, md5, sha256 to match.")
        shown = label or next(f"{k}:{v.value.hex()}" for k, v in signals.items())
        return cls(label=shown, signals=signals)

    def values(self, signal_type: str) -> tuple[bytes, ...]:
        """Every value of ``signal_type`` to search (its variants, or the value), or ``()``."""
        sv = self.signals.get(signal_type)
        return () if sv is None else sv.searched

    @property
    def low_quality(self) -> bool:
        """A signal of the query has a quality its type calls too low to trust."""
        return any(get_signal_type(k).is_low_quality(v.quality) for k, v in self.signals.items())


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
        st = get_signal_type(self.signal_type)
        how = (
            f"identical {self.signal_type}"
            if st.index_kind is IndexKind.EXACT
            else f"{self.signal_type} distance {self.distance} <= threshold {self.threshold}"
        )
        if self.orientation and st.variant_names and self.orientation != st.variant_names[0]:
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
        rec: dict[str, Any] = {"input": q.label, "status": self.status}
        for t in single_value_types():  # each type's value in hex (+ its quality), None if absent
            sv = q.signals.get(t.name)
            if sv is None and t.name not in _ALWAYS:
                continue
            rec[t.name] = None if sv is None else sv.value.hex()
            if t.has_quality:
                rec[f"{t.name}_quality"] = None if sv is None else sv.quality
                rec["low_quality"] = q.low_quality
        rec["dihedral"] = any(len(v.variants) > 1 for v in q.signals.values())
        rec["matches"] = [m.to_record() for m in self.matches]
        rec["error"] = q.error
        return rec


#: the types every match record names, matched or not (the documented record)
_ALWAYS = frozenset({"pdq", "md5", "sha256"})
