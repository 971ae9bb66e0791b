"""Feedback that travels: an opinion given here on an entry a mirror brought in goes back to the
entry's source, over the channel the mirror pulls through.

Why it is built this way (HMA only fetches, and StopNCII's users say feedback by hand "often
doesn't happen", ThreatExchange #1614):

* the opinion is recorded here first (:mod:`takeback.banks.feedback`); if the entry came from a
  mirror (``exchange_entry`` maps the publisher's fingerprint key to it), a row in
  ``feedback_outbox`` holds it for the source, in the same transaction: nothing is lost when the
  source is down, and a giver who changes its mind replaces its row (the source gets the latest);
* :func:`push` sends due rows with the mirror's stored API key and URL through
  :func:`takeback.net.post_bytes` (public addresses only, loopback only for a ``local`` exchange,
  no redirects), to ``POST /v1/feed/{bank}/feedback`` on the source, keyed by the fingerprint key
  its own feed uses, so the source finds its own entry whatever the mirror numbered it;
* a failed send is retried with exponential backoff (a minute, doubling, at most six hours); a row
  is marked sent only if it did not change while it was on the wire (compare-and-set);
* the source (:func:`receive`) takes opinions only from a key that may relay feedback for that
  bank (an ``exchange`` key scoped to it); each is one per (sender, giver there, entry), so a
  resend changes nothing. An entry the source has since removed is refused for good.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from takeback.banks import feedback as opinions
from takeback.banks.models import Bank, BankContent, ContentSignal
from takeback.banks.service import BankError, entry_key, get_bank
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.exchanges.models import Exchange, ExchangeEntry, ExchangeFeed, FeedbackOutbox
from takeback.exchanges.service import ExchangeError, get_exchange
from takeback.store import Database, record_audit

API = "takeback_feed"  # mirror.API (not imported: mirror stands on this module for its pull's end)
BATCH = 100
MAX_RELAY_ITEMS = 500
MAX_REMOTE_GIVER_CHARS = 150
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

#: posts one batch: (url, body, token, local) -> (HTTP status, response body)
Poster = Callable[[str, bytes, str, bool], tuple[int, bytes]]


def net_post(url: str, body: bytes, token: str, local: bool) -> tuple[int, bytes]:
    from takeback.net.fetch import FetchPolicy, post_bytes

    policy = FetchPolicy(max_bytes=MAX_RESPONSE_BYTES, timeout_s=60, read_timeout_s=30, allow_loopback=local)
    return post_bytes(url, body, policy=policy, headers={"Authorization": f"Bearer {token}"})


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed send: 1 min, 2, 4, ... at most 6 h."""
    wait: timedelta = FIRST_RETRY * (2 ** max(0, min(attempts - 1, 20)))
    return min(wait, LAST_RETRY)


# --- giving feedback here -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    outcome: opinions.OpinionOutcome
    #: the exchange the opinion was queued for (the entry's source), if the entry is mirrored
    queued_for: str | None

    def to_record(self) -> dict[str, Any]:
        return {**self.outcome.to_record(), "queued": self.queued_for is not None}


def give_feedback(
    session: Session,
    *,
    bank: Bank,
    content_id: int,
    giver: str,
    opinion: str,
    note: str | None,
    actor: str,
    via: str | None = None,
) -> FeedbackResult:
    """Record ``giver``'s opinion of an entry and, if the entry came from a mirror, queue it for
    the entry's source (one transaction: the caller's)."""
    outcome = opinions.record_opinion(
        session,
        bank=bank,
        content_id=content_id,
        giver=giver,
        opinion=opinion,
        note=note,
        actor=actor,
        via=via,
    )
    queued = _queue(
        session,
        bank=bank,
        content_id=content_id,
        giver=opinions.check_giver(giver),
        opinion=outcome.opinion,
        note=opinions.check_feedback_note(note),
        actor=actor,
    )
    return FeedbackResult(outcome, queued)


def entries_with_hash(
    session: Session, *, signal_type: str, value: bytes, bank_ids: frozenset[int] | None
) -> list[tuple[Bank, int]]:
    """The entries of live banks (within ``bank_ids``, if given) holding exactly this hash."""
    q = (
        select(Bank, BankContent.id)
        .join(BankContent, BankContent.bank_id == Bank.id)
        .join(ContentSignal, ContentSignal.content_id == BankContent.id)
        .where(
            ContentSignal.signal_type == signal_type,
            ContentSignal.value == value,
            Bank.deleted_at.is_(None),
        )
        .order_by(Bank.id, BankContent.id)
    )
    if bank_ids is not None:
        q = q.where(Bank.id.in_(sorted(bank_ids)))
    return [(b, int(cid)) for b, cid in session.execute(q)]


def _mirror_of(session: Session, bank: Bank) -> Exchange | None:
    return session.scalar(select(Exchange).where(Exchange.bank_id == bank.id, Exchange.api == API))


def _publisher_key(session: Session, exchange_id: int, content_id: int) -> str | None:
    """The publisher's key of a mirrored entry: its fingerprint key (by primary key), else the map
    row pointing at it (an entry that arrived as a duplicate of one already here)."""
    values = {
        t: bytes(v)
        for t, v in session.execute(
            select(ContentSignal.signal_type, ContentSignal.value).where(
                ContentSignal.content_id == content_id
            )
        )
    }
    if values:
        key = entry_key(values)
        row = session.get(ExchangeEntry, (exchange_id, key))
        if row is not None and row.content_id == content_id:
            return key
    return session.scalar(
        select(ExchangeEntry.key)
        .where(ExchangeEntry.exchange_id == exchange_id, ExchangeEntry.content_id == content_id)
        .limit(1)
    )


def _queue(
    session: Session,
    *,
    bank: Bank,
    content_id: int,
    giver: str,
    opinion: str,
    note: str | None,
    actor: str,
) -> str | None:
    ex = _mirror_of(session, bank)
    if ex is None:
        return None
    key = _publisher_key(session, ex.id, content_id)
    if key is None:  # added here by hand, not from the feed: it has no source to tell
        return None
    row = session.scalar(
        select(FeedbackOutbox).where(
            FeedbackOutbox.exchange_id == ex.id, FeedbackOutbox.key == key, FeedbackOutbox.giver == giver
        )
    )
    if row is not None and (row.opinion, row.note) == (opinion, note) and row.state != "refused":
        return ex.name  # queued or sent already: nothing new to say
    now = utcnow()
    if row is None:
        row = FeedbackOutbox(exchange_id=ex.id, key=key, giver=giver, created_at=now)
        session.add(row)
    row.opinion, row.note, row.state, row.attempts = opinion, note, "pending", 0
    row.updated_at, row.next_attempt_at, row.sent_at, row.last_error = now, now, None, None
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="feedback.queue",
        object_type="exchange",
        object_id=ex.id,
        details={"content_id": content_id, "key": key, "giver": giver, "opinion": opinion},
    )
    return ex.name


# --- sending it to the source ---------------------------------------------------------------------


@dataclass
class PushReport:
    name: str
    sent: int = 0
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)
    failed: int = 0
    pending: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _feed_of(session: Session, name: str) -> tuple[Exchange, ExchangeFeed]:
    ex = get_exchange(session, name=name)
    feed = session.get(ExchangeFeed, ex.id) if ex is not None and ex.api == API else None
    if ex is None or feed is None:
        raise ExchangeError(
            f"No feed exchange called {name!r} (see takeback exchange list).", code="unknown_exchange"
        )
    return ex, feed


def push(
    db: Database,
    *,
    name: str,
    actor: str,
    post: Poster = net_post,
    now: datetime | None = None,
    retry_now: bool = False,
) -> PushReport:
    """Send the exchange's due feedback to its source, a batch at a time; the first batch that
    fails is rescheduled with backoff and the push stops (the source is down or refusing)."""
    report = PushReport(name=name)
    at = now or utcnow()
    with db.session() as s:
        ex, feed = _feed_of(s, name)
        exchange_id, token, settings = ex.id, feed.token, dict(ex.settings)
        if not ex.enabled:
            raise ExchangeError(
                f"Exchange {name!r} is paused (takeback exchange pause --resume).", code="paused"
            )
    bank_path = quote(str(settings["bank"]), safe="")
    url = f"{settings['url']}/v1/feed/{bank_path}/feedback"
    last_id = 0
    while True:
        with db.session() as s:
            q = select(FeedbackOutbox).where(
                FeedbackOutbox.exchange_id == exchange_id,
                FeedbackOutbox.state == "pending",
                FeedbackOutbox.id > last_id,
            )
            if not retry_now:
                q = q.where(FeedbackOutbox.next_attempt_at <= at)
            rows = s.scalars(q.order_by(FeedbackOutbox.id).limit(BATCH)).all()
            batch = [(r.id, r.updated_at, r.attempts, r.key, r.giver, r.opinion, r.note) for r in rows]
        if not batch:
            break
        last_id = batch[-1][0]
        body = json.dumps(
            {"items": [{"key": k, "giver": g, "opinion": o, "note": n} for _, _, _, k, g, o, n in batch]},
            ensure_ascii=False,
        ).encode()
        try:
            status, answer = post(url, body, token, bool(settings.get("local")))
            results = _results(status, answer, len(batch))
        except TakebackError as exc:
            _failed(db, exchange_id=exchange_id, batch=batch, error=exc.message, at=at)
            report.failed += len(batch)
            report.error = f"sending feedback failed: {exc.message}"
            break
        _settle(db, exchange_id=exchange_id, batch=batch, results=results, at=at, actor=actor, report=report)
    with db.session() as s:
        report.pending = int(
            s.scalar(
                select(func.count())
                .select_from(FeedbackOutbox)
                .where(FeedbackOutbox.exchange_id == exchange_id, FeedbackOutbox.state == "pending")
            )
            or 0
        )
    return report


def _results(status: int, answer: bytes, n: int) -> list[dict[str, Any]]:
    """The source's per-item answers, or :class:`ExchangeError` for a batch it did not take."""
    try:
        doc = json.loads(answer.decode("utf-8")) if answer else None
    except (UnicodeDecodeError, ValueError):
        doc = None
    if status != 200:
        said = doc.get("message") if isinstance(doc, dict) else None
        raise ExchangeError(
            f"the source answered HTTP {status}" + (f": {said}" if isinstance(said, str) else ""),
            code="feedback_refused",
        )
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list) or len(results) != n or not all(isinstance(r, dict) for r in results):
        raise ExchangeError(
            "the source's answer is not one result per opinion sent", code="feedback_bad_answer"
        )
    return results


def _failed(
    db: Database, *, exchange_id: int, batch: Sequence[tuple[Any, ...]], error: str, at: datetime
) -> None:
    with db.session() as s:
        attempts = 0
        for rid, updated, tries, *_ in batch:
            attempts = max(attempts, tries + 1)
            s.execute(
                update(FeedbackOutbox)
                .where(FeedbackOutbox.id == rid, FeedbackOutbox.updated_at == updated)
                .values(attempts=tries + 1, next_attempt_at=at + backoff(tries + 1), last_error=error)
            )
        record_audit(
            s,
            actor="exchange",
            action="feedback.send_failed",
            object_type="exchange",
            object_id=exchange_id,
            details={
                "opinions": len(batch),
                "attempt": attempts,
                "error": error,
                "retry_in_s": int(backoff(attempts).total_seconds()),
            },
        )


def _settle(
    db: Database,
    *,
    exchange_id: int,
    batch: Sequence[tuple[Any, ...]],
    results: list[dict[str, Any]],
    at: datetime,
    actor: str,
    report: PushReport,
) -> None:
    with db.session() as s:
        sent: list[str] = []
        for (rid, updated, tries, key, giver, _, _), res in zip(batch, results, strict=True):
            status = res.get("status")
            done = status in ("recorded", "unchanged")
            values: dict[str, Any] = (
                {"state": "sent", "sent_at": at, "attempts": tries + 1, "last_error": None}
                if done
                else {
                    "state": "refused",
                    "attempts": tries + 1,
                    "last_error": f"{res.get('code') or 'refused'}: {res.get('message') or 'refused'}",
                }
            )
            moved = s.execute(
                update(FeedbackOutbox)
                .where(FeedbackOutbox.id == rid, FeedbackOutbox.updated_at == updated)
                .values(**values)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                continue  # changed while on the wire: the new opinion goes next time
            if done:
                sent.append(key)
                if status == "recorded":
                    report.sent += 1
                else:
                    report.unchanged += 1
            else:
                report.refused.append(f"{key}: {values['last_error']}")
                record_audit(
                    s,
                    actor=actor,
                    action="feedback.refused",
                    object_type="exchange",
                    object_id=exchange_id,
                    details={"key": key, "giver": giver, "reason": values["last_error"]},
                )
        if sent:
            record_audit(
                s,
                actor=actor,
                action="feedback.send",
                object_type="exchange",
                object_id=exchange_id,
                details={"opinions": len(sent), "keys": sent[:50]},
            )


def outbox_counts(session: Session, *, exchange_id: int) -> dict[str, int]:
    """How many of the exchange's opinions are pending, sent and refused."""
    out = {"pending": 0, "sent": 0, "refused": 0}
    for state, n in session.execute(
        select(FeedbackOutbox.state, func.count())
        .where(FeedbackOutbox.exchange_id == exchange_id)
        .group_by(FeedbackOutbox.state)
    ):
        out[state] = int(n)
    return out


def outbox(session: Session, *, name: str) -> list[dict[str, Any]]:
    """The exchange's outbox rows, newest first (what was said, where it stands)."""
    from takeback.banks.models import iso

    ex, _ = _feed_of(session, name)
    rows = session.scalars(
        select(FeedbackOutbox).where(FeedbackOutbox.exchange_id == ex.id).order_by(FeedbackOutbox.id.desc())
    ).all()
    return [
        {
            "key": r.key,
            "giver": r.giver,
            "opinion": r.opinion,
            "state": r.state,
            "attempts": r.attempts,
            "next_attempt_at": iso(as_utc(r.next_attempt_at)) if r.state == "pending" else None,
            "sent_at": iso(as_utc(r.sent_at)),
            "last_error": r.last_error,
        }
        for r in rows
    ]


# --- receiving it at the source -------------------------------------------------------------------


def receive(
    session: Session, *, bank: Bank, sender: str, items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Opinions a mirror relays about ``bank``'s entries, each keyed by its fingerprint key: one
    result per item, ``recorded`` / ``unchanged``, or ``refused`` with a code (an entry this bank
    no longer holds, an unknown opinion). ``sender`` is the relaying key (already checked: it may
    relay for this bank); each opinion's giver here is ``<sender>/<giver there>``."""
    if len(items) > MAX_RELAY_ITEMS:
        raise ExchangeError(
            f"At most {MAX_RELAY_ITEMS} opinions a request; this one has {len(items)}.", code="too_many_items"
        )
    bank = get_bank(session, name=bank.name)
    out: list[dict[str, Any]] = []
    tally = {"recorded": 0, "unchanged": 0, "refused": 0}
    for item in items:
        key = item.get("key")
        giver = item.get("giver")
        try:
            if not isinstance(key, str) or not key or len(key) > 200:
                raise BankError("Each opinion names its entry by the feed's key.", code="invalid_key_value")
            if not isinstance(giver, str) or len(giver) > MAX_REMOTE_GIVER_CHARS:
                raise BankError(
                    f"A giver is text of at most {MAX_REMOTE_GIVER_CHARS} characters.", code="invalid_giver"
                )
            content_id = opinions.entry_by_key(session, bank=bank, key=key)
            if content_id is None:
                raise BankError(f"Bank {bank.name!r} holds no entry with key {key}.", code="unknown_content")
            with session.begin_nested():  # an item refused part-way leaves nothing of itself
                result = give_feedback(
                    session,
                    bank=bank,
                    content_id=content_id,
                    giver=f"{sender}/{opinions.check_giver(giver)}",
                    opinion=item.get("opinion"),  # type: ignore[arg-type]
                    note=item.get("note"),
                    actor=sender,
                    via=sender,
                )
        except TakebackError as exc:
            tally["refused"] += 1
            out.append(
                {
                    "key": key if isinstance(key, str) else None,
                    "status": "refused",
                    "code": exc.code,
                    "message": exc.message,
                }
            )
            continue
        status = "recorded" if result.outcome.changed else "unchanged"
        tally[status] += 1
        out.append(
            {
                "key": key,
                "status": status,
                "counts": result.outcome.counts.to_record(),
                "quarantined": result.outcome.quarantined,
            }
        )
    record_audit(
        session,
        actor=sender,
        action="feedback.receive",
        object_type="bank",
        object_id=bank.id,
        details=tally,
    )
    return out
