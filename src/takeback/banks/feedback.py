"""What platforms say about a bank's entries after a match: right, wrong, or worth a look.

Why: a hash list only earns trust if what platforms learn comes back to whoever curates it. HMA
never sends feedback, and StopNCII's users say feedback done by hand "often doesn't happen"
(ThreatExchange #1614). The model is python-threatexchange's signal opinions: ``positive`` (the
content is what the bank is for), ``negative`` (a false positive, or test data) and
``investigation_seed`` (an indirect lead, to be checked); an entry with a negative and any other
opinion is ``disputed``. Each giver (an API key, a CLI user, a platform behind a mirror) holds one
opinion per entry, replaced when it gives another, so a resend changes nothing.

An entry with at least the bank's ``dispute_threshold`` negatives, and more negatives than
positives, is put on hold (reason ``disputed``) for a curator to review: it stops matching until a
curator releases it. Opinions are rows of their own (``bank_entry_opinion``), deleted with their
entry; the threshold is ``bank_feedback_policy`` (a bank without a row uses the default). The hold
is the banks' entry hold (:func:`takeback.banks.service.hold_entries`): it stops the entry matching
everywhere and publishes it as disabled in the bank's feed, so mirrors stop matching it too; a
curator's ``release_entries`` (accept or reject) ends it. Once released, the entry is held again
only by a new negative opinion that leaves it past the threshold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from takeback.banks.models import Bank, BankContent, BigId, ContentSignal, HoldReason, is_held, iso
from takeback.banks.service import BankError, entry_key, get_bank, hold_entries
from takeback.clock import as_utc, utcnow
from takeback.signals import REGISTRY
from takeback.store import Base, record_audit

#: negatives an entry needs before it is held for review (when they also outnumber positives)
DEFAULT_DISPUTE_THRESHOLD = 3
MAX_DISPUTE_THRESHOLD = 1_000
MAX_FEEDBACK_NOTE_CHARS = 2_000
MAX_GIVER_CHARS = 200
HOLD_REASON: HoldReason = "disputed"
_CHUNK = 500


class Opinion(StrEnum):
    """python-threatexchange's ``SignalOpinionCategory``, by name."""

    POSITIVE = "positive"  # the content fits the bank: a true positive
    NEGATIVE = "negative"  # a false positive (or test data)
    INVESTIGATION_SEED = "investigation_seed"  # an indirect lead: check before acting on it


class EntryOpinion(Base):
    """One giver's opinion of one entry (the latest it gave)."""

    __tablename__ = "bank_entry_opinion"
    __table_args__ = (UniqueConstraint("content_id", "giver", name="uq_bank_entry_opinion_giver"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    content_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_content.id", ondelete="CASCADE"))
    bank_id: Mapped[int] = mapped_column(Integer, index=True)
    #: who holds the opinion: ``key:<id>``, a CLI actor, or ``key:<exchange key>/<giver there>``
    giver: Mapped[str] = mapped_column(String(MAX_GIVER_CHARS))
    opinion: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackPolicy(Base):
    """A bank's dispute threshold, where it differs from the default."""

    __tablename__ = "bank_feedback_policy"

    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id", ondelete="CASCADE"), primary_key=True)
    dispute_threshold: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class FeedbackError(BankError):
    code = "invalid_feedback"


@dataclass(frozen=True, slots=True)
class OpinionCounts:
    """How many givers hold each opinion of an entry, and what that adds up to."""

    positive: int = 0
    negative: int = 0
    investigation_seed: int = 0

    @property
    def aggregate(self) -> str | None:
        """python-threatexchange's aggregate: the strongest opinion, ``disputed`` when a negative
        meets any other; ``None`` without opinions."""
        others = self.positive + self.investigation_seed
        if self.negative and others:
            return "disputed"
        if self.negative:
            return Opinion.NEGATIVE.value
        if self.positive:
            return Opinion.POSITIVE.value
        return Opinion.INVESTIGATION_SEED.value if self.investigation_seed else None

    def past(self, threshold: int) -> bool:
        """Whether these opinions put the entry on hold: enough negatives, and more than positives."""
        return self.negative >= threshold and self.negative > self.positive

    def to_record(self) -> dict[str, Any]:
        return {
            "positive": self.positive,
            "negative": self.negative,
            "investigation_seed": self.investigation_seed,
            "opinion": self.aggregate,
        }


@dataclass(frozen=True, slots=True)
class OpinionOutcome:
    bank: str
    content_id: int
    opinion: str
    changed: bool
    counts: OpinionCounts
    quarantined: bool

    def to_record(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "content_id": self.content_id,
            "opinion": self.opinion,
            "changed": self.changed,
            "counts": self.counts.to_record(),
            "quarantined": self.quarantined,
        }


def parse_opinion(value: Any) -> Opinion:
    try:
        return Opinion(str(value).strip().lower()) if isinstance(value, str) else Opinion("")
    except ValueError:
        known = ", ".join(o.value for o in Opinion)
        raise FeedbackError(
            f"Unknown opinion {value!r}: give one of {known}.", code="invalid_opinion"
        ) from None


def check_feedback_note(note: Any) -> str | None:
    """A note of at most :data:`MAX_FEEDBACK_NOTE_CHARS` (blank: none)."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise FeedbackError("A feedback note is text.", code="invalid_note")
    clean = note.strip()
    if len(clean) > MAX_FEEDBACK_NOTE_CHARS:
        raise FeedbackError(
            f"A feedback note is at most {MAX_FEEDBACK_NOTE_CHARS:,} characters; "
            f"this one has {len(clean):,}.",
            code="invalid_note",
        )
    return clean or None


def check_giver(giver: Any) -> str:
    if (
        not isinstance(giver, str)
        or not giver.strip()
        or len(giver) > MAX_GIVER_CHARS
        or not giver.isprintable()
    ):
        raise FeedbackError(
            f"A giver is printable text of 1-{MAX_GIVER_CHARS} characters.", code="invalid_giver"
        )
    return giver.strip()


def dispute_threshold(session: Session, *, bank_id: int) -> int:
    row = session.get(FeedbackPolicy, bank_id)
    return row.dispute_threshold if row is not None else DEFAULT_DISPUTE_THRESHOLD


def set_dispute_threshold(session: Session, *, bank_name: str, threshold: int, actor: str) -> int:
    """Set a bank's dispute threshold (entries already past it are held at their next negative)."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not 1 <= threshold <= MAX_DISPUTE_THRESHOLD
    ):
        raise FeedbackError(
            f"The dispute threshold is a number of negative opinions, 1-{MAX_DISPUTE_THRESHOLD:,}.",
            code="invalid_threshold",
        )
    bank = get_bank(session, name=bank_name)
    row = session.get(FeedbackPolicy, bank.id)
    old = row.dispute_threshold if row is not None else DEFAULT_DISPUTE_THRESHOLD
    if row is None:
        row = FeedbackPolicy(bank_id=bank.id)
        session.add(row)
    row.dispute_threshold, row.updated_at, row.updated_by = threshold, utcnow(), actor
    record_audit(
        session,
        actor=actor,
        action="bank.feedback_policy",
        object_type="bank",
        object_id=bank.id,
        details={"dispute_threshold": threshold, "was": old},
    )
    return threshold


def _entry_in(session: Session, bank: Bank, content_id: int) -> BankContent:
    row = session.get(BankContent, content_id) if 1 <= content_id < 2**63 else None
    if row is None or row.bank_id != bank.id:
        raise BankError(f"Bank {bank.name!r} has no entry with id {content_id}.", code="unknown_content")
    return row


def counts_of(session: Session, *, content_ids: Sequence[int]) -> dict[int, OpinionCounts]:
    """Opinion counts of each entry among ``content_ids`` (entries without opinions are left out)."""
    raw: dict[int, dict[str, int]] = {}
    ids = sorted(set(content_ids))
    for i in range(0, len(ids), _CHUNK):
        for cid, opinion, n in session.execute(
            select(EntryOpinion.content_id, EntryOpinion.opinion, func.count())
            .where(EntryOpinion.content_id.in_(ids[i : i + _CHUNK]))
            .group_by(EntryOpinion.content_id, EntryOpinion.opinion)
        ):
            raw.setdefault(int(cid), {})[opinion] = int(n)
    return {
        cid: OpinionCounts(**{k: v for k, v in c.items() if k in Opinion.__members__.values()})
        for cid, c in raw.items()
    }


@dataclass(frozen=True, slots=True)
class BankFeedback:
    """A bank's feedback at a glance: entries confirmed (positives only), disputed (mixed), negative
    (negatives only), opinions given, entries held as disputed, and the threshold."""

    confirmed: int
    disputed: int
    negative: int
    positives: int
    negatives: int
    investigation_seeds: int
    quarantined: int
    dispute_threshold: int

    def to_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def bank_feedback(session: Session, *, bank_name: str) -> BankFeedback:
    bank = get_bank(session, name=bank_name)
    per: dict[int, dict[str, int]] = {}
    for cid, opinion, n in session.execute(
        select(EntryOpinion.content_id, EntryOpinion.opinion, func.count())
        .where(EntryOpinion.bank_id == bank.id)
        .group_by(EntryOpinion.content_id, EntryOpinion.opinion)
    ):
        per.setdefault(int(cid), {})[opinion] = int(n)
    aggregates = [OpinionCounts(**c).aggregate for c in per.values()]
    return BankFeedback(
        confirmed=aggregates.count("positive"),
        disputed=aggregates.count("disputed"),
        negative=aggregates.count("negative"),
        positives=sum(c.get("positive", 0) for c in per.values()),
        negatives=sum(c.get("negative", 0) for c in per.values()),
        investigation_seeds=sum(c.get("investigation_seed", 0) for c in per.values()),
        quarantined=quarantined_count(session, bank_id=bank.id),
        dispute_threshold=dispute_threshold(session, bank_id=bank.id),
    )


def opinions_of(session: Session, *, bank_name: str, content_id: int) -> list[dict[str, Any]]:
    """Every opinion of one entry, oldest first (who, what, note, when)."""
    bank = get_bank(session, name=bank_name)
    _entry_in(session, bank, content_id)
    rows = session.scalars(
        select(EntryOpinion).where(EntryOpinion.content_id == content_id).order_by(EntryOpinion.id)
    ).all()
    return [
        {
            "giver": r.giver,
            "opinion": r.opinion,
            "note": r.note,
            "created_at": iso(as_utc(r.created_at)),
            "updated_at": iso(as_utc(r.updated_at)),
        }
        for r in rows
    ]


def record_opinion(
    session: Session,
    *,
    bank: Bank,
    content_id: int,
    giver: str,
    opinion: Opinion | str,
    note: str | None,
    actor: str,
    via: str | None = None,
) -> OpinionOutcome:
    """Record ``giver``'s opinion of an entry, replacing its earlier one (the same opinion and note
    again changes nothing and writes nothing); past the bank's threshold the entry is held for
    review. ``via`` names the exchange a relayed opinion came through (for the audit row)."""
    op = parse_opinion(opinion)
    clean_note = check_feedback_note(note)
    who = check_giver(giver)
    _entry_in(session, bank, content_id)
    row = session.scalar(
        select(EntryOpinion).where(EntryOpinion.content_id == content_id, EntryOpinion.giver == who)
    )
    changed = row is None or row.opinion != op.value or row.note != clean_note
    was = row.opinion if row is not None else None
    if changed:
        now = utcnow()
        if row is None:
            row = EntryOpinion(content_id=content_id, bank_id=bank.id, giver=who, created_at=now)
            session.add(row)
        row.opinion, row.note, row.updated_at = op.value, clean_note, now
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="feedback.opinion",
            object_type="bank",
            object_id=bank.id,
            details={
                "content_id": content_id,
                "giver": who,
                "opinion": op.value,
                "was": was,
                "noted": clean_note is not None,
                **({"via": via} if via else {}),
            },
        )
    counts = counts_of(session, content_ids=[content_id]).get(content_id, OpinionCounts())
    quarantined = False
    if changed and op is Opinion.NEGATIVE:
        threshold = dispute_threshold(session, bank_id=bank.id)
        if counts.past(threshold) and _hold_of(session, content_id) is None:
            hold_entries(
                session, bank_name=bank.name, content_ids=[content_id], reason=HOLD_REASON, actor=actor
            )
            record_audit(
                session,
                actor=actor,
                action="feedback.quarantine",
                object_type="bank",
                object_id=bank.id,
                details={
                    "content_id": content_id,
                    "negative": counts.negative,
                    "positive": counts.positive,
                    "dispute_threshold": threshold,
                },
            )
            quarantined = True
    return OpinionOutcome(
        bank=bank.name,
        content_id=content_id,
        opinion=op.value,
        changed=changed,
        counts=counts,
        quarantined=quarantined or _hold_of(session, content_id) == HOLD_REASON,
    )


def _hold_of(session: Session, content_id: int) -> str | None:
    """The reason the entry is held now, if it is (a hold whose time ran out counts as none)."""
    row = session.execute(
        select(BankContent.hold_reason, BankContent.held_until).where(BankContent.id == content_id)
    ).first()
    if row is None or not is_held(row[0], row[1], utcnow()):
        return None
    return str(row[0])


def quarantined_count(session: Session, *, bank_id: int) -> int:
    """Entries of the bank held for review as disputed now."""
    now = utcnow()
    return sum(
        1
        for reason, until in session.execute(
            select(BankContent.hold_reason, BankContent.held_until).where(
                BankContent.bank_id == bank_id, BankContent.hold_reason == HOLD_REASON
            )
        )
        if is_held(reason, until, now)
    )


# --- finding an entry by its fingerprint key ------------------------------------------------------


def entry_by_key(session: Session, *, bank: Bank, key: str) -> int | None:
    """The entry of ``bank`` whose fingerprint key (:func:`entry_key`) is ``key``, if any: how a
    source finds its own entry from what a mirror sends back."""
    stype, sep, rest = key.partition(":")
    long_form = "#" in stype
    if long_form:
        stype, _, algo = stype.partition("#")
        if algo != "sha256":
            return None
    if not sep or stype not in REGISTRY:
        return None
    try:
        value = bytes.fromhex(rest)
    except ValueError:
        return None
    sig, content = ContentSignal, BankContent
    if not long_form:
        candidates = session.scalars(
            select(sig.content_id)
            .join(content, content.id == sig.content_id)
            .where(sig.signal_type == stype, sig.value == value, content.bank_id == bank.id)
        ).all()
    else:  # a long value (a video's vPDQ) is keyed by its SHA-256: compare digests
        candidates = [
            int(cid)
            for cid, v in session.execute(
                select(sig.content_id, sig.value)
                .join(content, content.id == sig.content_id)
                .where(sig.signal_type == stype, content.bank_id == bank.id)
            )
            if hashlib.sha256(bytes(v)).digest() == value
        ]
    for cid in candidates:
        values = {
            t: bytes(v)
            for t, v in session.execute(select(sig.signal_type, sig.value).where(sig.content_id == cid))
        }
        if values and entry_key(values) == key:
            return int(cid)
    return None


def entries_with_opinions(session: Session, *, bank_name: str) -> list[dict[str, Any]]:
    """Each entry of the bank that has opinions: its counts, aggregate and hold, by id."""
    bank = get_bank(session, name=bank_name)
    ids = sorted(
        int(c)
        for c in session.scalars(
            select(EntryOpinion.content_id).where(EntryOpinion.bank_id == bank.id).distinct()
        )
    )
    counts = counts_of(session, content_ids=ids)
    return [
        {"content_id": cid, **counts[cid].to_record(), "held": _hold_of(session, cid)}
        for cid in ids
        if cid in counts
    ]
