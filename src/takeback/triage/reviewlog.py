"""The review log of a scan case: a second custody log, ``review:<case id>``, in the same ``case.db``.

Why a second log rather than more entries in the scan's: the scan's log is written by the one scan
process that holds the folder's lock, and reviewers work while a scan may still be running; two
writers extending one chain would fight over its head. The review log has its own chain, and
``case verify`` checks both.

Every categorisation, note, reveal, bank import and export made in the review grid is one entry.
Entries carry ids, category keys, hashes and counts, never free text (a note's text is in
``review_note``; its entry holds the SHA-256). The review tables are then checked against the log:
replaying the entries must give exactly the rows stored, so a row changed behind the log's back is
named with the entry it contradicts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from takeback.evidence.custody import CustodyEntry, SqlCustodyStore, verify_entries
from takeback.evidence.signing import PublicKey
from takeback.triage.models import review, review_note, review_reveal

#: what the review log's entries do (``action``)
STARTED = "review.started"
CATEGORIES = "review.categories"
CATEGORISED = "items.categorised"
NOTE_ADDED = "note.added"
REVEALED = "item.revealed"
BANK_IMPORTED = "bank.imported"
EXPORTED = "selection.exported"

#: the tables whose presence means a case has been opened for review
TABLES = ("review", "review_note", "review_reveal")


def log_id(case_id: str) -> str:
    return f"review:{case_id}"


def note_sha256(text: str) -> str:
    """The note's SHA-256 as its review-log entry records it (UTF-8 of the text as stored)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def has_review(session: Session) -> bool:
    """Whether the case database holds the review tables (a schema-1 folder never reviewed does not)."""
    names = set(inspect(session.connection()).get_table_names())
    return all(t in names for t in TABLES)


@dataclass(frozen=True)
class ReviewProblem:
    seq: int | None  # the review-log entry concerned (None: a row no entry accounts for)
    code: str
    message: str


@dataclass
class ReviewCheck:
    entries: int
    head: str | None
    keys: list[PublicKey] = field(default_factory=list)
    problems: list[ReviewProblem] = field(default_factory=list)


def check(
    session: Session, case_id: str, *, trusted_keys: Iterable[PublicKey] | None = None
) -> ReviewCheck | None:
    """Verify the review log (chain, signatures) and the review tables against it; ``None`` when
    the case has never been opened for review."""
    if not has_review(session):
        return None
    entries = list(SqlCustodyStore(session, log_id(case_id)).entries())
    report = verify_entries(entries, log=log_id(case_id), trusted_keys=trusted_keys)
    out = ReviewCheck(entries=report.count, head=entries[-1].hash if entries else None, keys=report.keys)
    if not report.ok:
        assert report.failure is not None
        out.problems.append(ReviewProblem(report.failure.seq, report.failure.code, report.failure.message))
        return out
    out.problems.extend(_check_categories(session, entries))
    out.problems.extend(_check_notes(session, entries))
    out.problems.extend(_check_reveals(session, entries))
    return out


def _item_of(e: CustodyEntry) -> int | None:
    if e.subject and e.subject.startswith("item:"):
        try:
            return int(e.subject.split(":", 1)[1])
        except ValueError:
            return None
    return None


def _check_categories(session: Session, entries: Sequence[CustodyEntry]) -> list[ReviewProblem]:
    want: dict[int, tuple[str, str, int]] = {}
    for e in entries:
        if e.action != CATEGORISED:
            continue
        category = e.details.get("category")
        for item_id in e.details.get("items") or []:
            if category is None:
                want.pop(int(item_id), None)
            else:
                want[int(item_id)] = (str(category), e.actor, e.seq)
    problems: list[ReviewProblem] = []
    seen: set[int] = set()
    for r in session.execute(select(review).order_by(review.c.item_id)):
        seen.add(r.item_id)
        expected = want.get(r.item_id)
        if expected is None:
            problems.append(
                ReviewProblem(
                    r.seq if r.seq else None,
                    "review_row_unlogged",
                    f"Item {r.item_id} is categorised {r.category!r} in the review table, but no review-log "
                    "entry categorised it so: the row was added or changed behind the log.",
                )
            )
        elif (r.category, r.reviewer, r.seq) != expected:
            problems.append(
                ReviewProblem(
                    expected[2],
                    "review_row_altered",
                    f"Item {r.item_id}'s categorisation in the review table ({r.category!r} by {r.reviewer}) "
                    f"does not match review-log entry {expected[2]} ({expected[0]!r} by {expected[1]}).",
                )
            )
    for item_id, (category, _actor, seq) in sorted(want.items()):
        if item_id not in seen:
            problems.append(
                ReviewProblem(
                    seq,
                    "review_row_missing",
                    f"Review-log entry {seq} categorised item {item_id} as {category!r}; the review table "
                    "no longer holds that row.",
                )
            )
    return problems


def _check_notes(session: Session, entries: Sequence[CustodyEntry]) -> list[ReviewProblem]:
    logged = {int(e.details["note"]): e for e in entries if e.action == NOTE_ADDED and "note" in e.details}
    problems: list[ReviewProblem] = []
    seen: set[int] = set()
    for r in session.execute(select(review_note).order_by(review_note.c.id)):
        seen.add(r.id)
        e = logged.get(r.id)
        if e is None:
            problems.append(
                ReviewProblem(
                    None, "note_unlogged", f"Note {r.id} is in the review table but not in the review log."
                )
            )
            continue
        target = f"{r.target}:{r.target_id}"
        if note_sha256(r.text) != e.details.get("sha256") or target != e.subject or r.author != e.actor:
            problems.append(
                ReviewProblem(
                    e.seq,
                    "note_altered",
                    f"Note {r.id} on {target} was changed after review-log entry {e.seq} recorded it.",
                )
            )
    for note_id, e in sorted(logged.items()):
        if note_id not in seen:
            problems.append(
                ReviewProblem(
                    e.seq, "note_missing", f"Note {note_id} (review-log entry {e.seq}) is no longer stored."
                )
            )
    return problems


def _check_reveals(session: Session, entries: Sequence[CustodyEntry]) -> list[ReviewProblem]:
    logged = {int(e.details["reveal"]): e for e in entries if e.action == REVEALED and "reveal" in e.details}
    problems: list[ReviewProblem] = []
    seen: set[int] = set()
    for r in session.execute(select(review_reveal).order_by(review_reveal.c.id)):
        seen.add(r.id)
        e = logged.get(r.id)
        if e is None or _item_of(e) != r.item_id or r.actor != e.actor or r.seq != e.seq:
            problems.append(
                ReviewProblem(
                    e.seq if e is not None else None,
                    "reveal_altered",
                    f"Reveal {r.id} (item {r.item_id}, {r.actor}) does not match the review log.",
                )
            )
    for reveal_id, e in sorted(logged.items()):
        if reveal_id not in seen:
            problems.append(
                ReviewProblem(
                    e.seq,
                    "reveal_missing",
                    f"Reveal {reveal_id} (review-log entry {e.seq}) was removed from the review table.",
                )
            )
    return problems


def counts_by_category(session: Session) -> dict[str, int]:
    """Items per category as the review table holds them now (for the report)."""
    from sqlalchemy import func

    return {
        str(k): int(n)
        for k, n in session.execute(select(review.c.category, func.count()).group_by(review.c.category))
    }
