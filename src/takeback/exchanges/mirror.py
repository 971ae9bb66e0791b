"""Mirror a publisher's bank feed into a local bank: ``takeback exchange add|list|pull|pause|remove``.

Why it is built this way (HMA's exchanges stall on a bad page and let two fetchers race one
checkpoint, ThreatExchange issues #2004, #1734):

* every page is verified against the publisher key pinned at ``add`` (:func:`feed.verify_page`);
  nothing unsigned, wrongly signed or out of order is applied, ever;
* a page and the checkpoint it reaches are applied in **one transaction**, and the checkpoint is
  moved by compare-and-set from the one the page continues from, so each change is applied exactly
  once and a pull killed at any point (kill -9 included) resumes from the last committed page;
* one fetcher per exchange: a lock row (owner and expiry) taken in its own transaction; a lock
  whose owner is a dead process on this host, or whose expiry has passed, is taken over;
* a page that fails to parse or verify is **quarantined** whole, with the reason, and the pull
  stops (``on_bad_page: stop``) or fetches it again up to three times (``retry``: a proxy's
  glitch) before it stops; ``exchange list`` says so, never silently;
* a mirror whose last good pull is older than ``stale_after_s`` is reported stale;
* pages are fetched through :mod:`takeback.net.fetch` (public addresses only, unless the exchange
  is configured ``local``, which allows loopback), with a size limit per page.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlsplit

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.banks.models import Bank, BankContent
from takeback.banks.transfer import entry_from_record
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.exchanges.apis import API_TYPES
from takeback.exchanges.feed import DEFAULT_PAGE, FeedError, PinnedKey, verify_page
from takeback.exchanges.models import (
    Exchange,
    ExchangeEntry,
    ExchangeFeed,
    ExchangeQuarantine,
    FeedbackOutbox,
)
from takeback.exchanges.service import ExchangeError, create_exchange, delete_exchange, get_exchange
from takeback.store import Database, record_audit
from takeback.store.bulk import bulk_insert

API = "takeback_feed"
_ENTRY_TABLE = cast(Table, ExchangeEntry.__table__)
LOCK_TTL = timedelta(minutes=5)
MAX_PAGE_BYTES = 64 * 1024 * 1024
RETRIES = 3
#: review policies: ``pending`` holds new entries until reviewed (or for ``review_hours``)
REVIEW_POLICIES = ("pending", "none")
#: the longest timed review: a year (longer is "until a curator accepts")
MAX_REVIEW_HOURS = 24 * 366

#: fetches one page: (url, token, local) -> body; the default goes through takeback.net.fetch
Fetcher = Callable[[str, str, bool], bytes]


def net_fetch(url: str, token: str, local: bool) -> bytes:
    from takeback.net.fetch import FetchPolicy, fetch_bytes

    policy = FetchPolicy(max_bytes=MAX_PAGE_BYTES, timeout_s=120, read_timeout_s=60, allow_loopback=local)
    body, _ = fetch_bytes(url, policy=policy, headers={"Authorization": f"Bearer {token}"})
    return body


# --- configuration --------------------------------------------------------------------------------


def add_mirror(
    session: Session,
    *,
    name: str,
    url: str,
    remote_bank: str,
    token: str,
    publisher_key: str,
    actor: str,
    local: bool = False,
    on_bad_page: str = "stop",
    stale_after_s: int = 86_400,
    review: str = "none",
    review_hours: float | None = None,
    max_pdq_distance: int | None = None,
) -> Exchange:
    """A new exchange pulling ``remote_bank`` from the instance at ``url`` into a bank called ``name``.

    ``review="pending"`` holds every new entry its pages bring out of matching (``pending_review``)
    until a curator accepts it, or for ``review_hours``; ``max_pdq_distance`` caps the PDQ distance
    the mirror bank's entries match at, whatever its threshold (:func:`banks.set_bank_pdq_cap`)."""
    review, review_hours = _check_review(review, review_hours)
    banks.check_pdq_cap(max_pdq_distance)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ExchangeError(f"{url!r} is not an http(s) address of a takeback instance.", code="invalid_url")
    if on_bad_page not in ("stop", "retry"):
        raise ExchangeError("on_bad_page is stop or retry.", code="invalid_policy")
    key = PinnedKey.from_b64(publisher_key)
    ex = create_exchange(
        session,
        name=name,
        api=API_TYPES[API],
        settings={
            "url": url.strip().rstrip("/"),
            "bank": remote_bank,
            "local": local,
            "on_bad_page": on_bad_page,
            "stale_after_s": stale_after_s,
        },
        enabled=True,
        actor=actor,
    )
    session.add(
        ExchangeFeed(
            exchange_id=ex.id,
            token=token,
            publisher_key=key.to_b64(),
            checkpoint=0,
            applied=0,
            review=review,
            review_hours=review_hours,
        )
    )
    record_audit(
        session,
        actor=actor,
        action="exchange.pin_key",
        object_type="exchange",
        object_id=ex.id,
        details={"key_id": key.key_id},
    )
    if review != "none":
        record_audit(
            session,
            actor=actor,
            action="exchange.review",
            object_type="exchange",
            object_id=ex.id,
            details={"review": review, "review_hours": review_hours},
        )
    if max_pdq_distance is not None:
        bank = session.get(Bank, ex.bank_id)
        assert bank is not None
        banks.set_bank_pdq_cap(session, name=bank.name, cap=max_pdq_distance, actor=actor)
    return ex


def _check_review(review: str, hours: float | None) -> tuple[str, float | None]:
    if review not in REVIEW_POLICIES:
        raise ExchangeError(
            f"Review {review!r} is not known: use pending (hold new entries for review) or none.",
            code="invalid_review",
        )
    if hours is not None:
        if review != "pending":
            raise ExchangeError("Review hours apply only with review pending.", code="invalid_review_hours")
        if isinstance(hours, bool) or not (isinstance(hours, int | float) and 0 < hours <= MAX_REVIEW_HOURS):
            raise ExchangeError(
                f"Review hours {hours!r} are out of range: give more than 0 and at most {MAX_REVIEW_HOURS:,} "
                "(leave them out to hold entries until a curator accepts them).",
                code="invalid_review_hours",
            )
        hours = float(hours)
    return review, hours


_KEEP: Any = object()


def configure_mirror(
    session: Session,
    *,
    name: str,
    actor: str,
    review: str | None = None,
    review_hours: float | None = _KEEP,
    max_pdq_distance: int | None = _KEEP,
) -> None:
    """Change an exchange's review policy or PDQ cap; what is not given stays as it is
    (``review_hours=None`` / ``max_pdq_distance=None`` clear them). A new policy applies to entries
    that arrive from now on: entries already here keep their state."""
    ex, feed = _get(session, name)
    new_review = review if review is not None else (feed.review or "none")
    hours = feed.review_hours if review_hours is _KEEP else review_hours
    if new_review == "none" and review_hours is _KEEP:
        hours = None  # turning review off drops its hours
    new_review, hours = _check_review(new_review, hours)
    if max_pdq_distance is not _KEEP:
        banks.check_pdq_cap(max_pdq_distance)
    if (new_review, hours) != (feed.review or "none", feed.review_hours):
        old = {"review": feed.review or "none", "review_hours": feed.review_hours}
        feed.review, feed.review_hours = new_review, hours
        record_audit(
            session,
            actor=actor,
            action="exchange.review",
            object_type="exchange",
            object_id=ex.id,
            details={"review": new_review, "review_hours": hours, "was": old},
        )
    if max_pdq_distance is not _KEEP:
        bank = session.get(Bank, ex.bank_id)
        if bank is None or bank.deleted_at is not None:
            raise ExchangeError(f"Exchange {name!r} has no mirror bank.", code="mirror_bank_gone")
        banks.set_bank_pdq_cap(session, name=bank.name, cap=max_pdq_distance, actor=actor)


def repin_key(session: Session, *, name: str, publisher_key: str, actor: str) -> None:
    """Pin a publisher's new (rotated) key: pages signed by the old one are refused from now on."""
    ex, feed = _get(session, name)
    key = PinnedKey.from_b64(publisher_key)
    old = PinnedKey.from_b64(feed.publisher_key).key_id
    feed.publisher_key = key.to_b64()
    record_audit(
        session,
        actor=actor,
        action="exchange.pin_key",
        object_type="exchange",
        object_id=ex.id,
        details={"key_id": key.key_id, "replaces": old},
    )


def _get(session: Session, name: str) -> tuple[Exchange, ExchangeFeed]:
    ex = get_exchange(session, name=name)
    if ex is None or ex.api != API:
        raise ExchangeError(
            f"No feed exchange called {name!r} (see takeback exchange list).", code="unknown_exchange"
        )
    feed = session.get(ExchangeFeed, ex.id)
    if feed is None:
        raise ExchangeError(
            f"Exchange {name!r} has no publisher key or API key: add it with takeback exchange add.",
            code="exchange_unconfigured",
        )
    return ex, feed


def pause(session: Session, *, name: str, paused: bool, actor: str) -> None:
    from takeback.exchanges.service import set_exchange_enabled

    ex, _ = _get(session, name)
    set_exchange_enabled(session, exchange=ex, enabled=not paused, actor=actor)


def remove(session: Session, *, name: str, actor: str) -> bool:
    """Remove the exchange, its state and (soft-deleted) its mirror bank."""
    ex = get_exchange(session, name=name)
    if ex is None:
        return False
    for table in (FeedbackOutbox, ExchangeQuarantine, ExchangeEntry, ExchangeFeed):
        session.execute(delete(table).where(table.exchange_id == ex.id))
    return delete_exchange(session, name=name, actor=actor)


@dataclass(frozen=True, slots=True)
class MirrorStatus:
    name: str
    url: str
    remote_bank: str
    bank: str | None
    key_id: str
    paused: bool
    checkpoint: int
    applied: int
    last_pull_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    stale: bool
    quarantined: int
    pulling: bool
    review: str = "none"
    review_hours: float | None = None
    max_pdq_distance: int | None = None

    def to_record(self) -> dict[str, Any]:
        from takeback.banks.models import iso

        rec = {k: getattr(self, k) for k in self.__slots__}
        for k in ("last_pull_at", "last_ok_at"):
            rec[k] = iso(rec[k])
        return rec


def statuses(session: Session, *, now: datetime | None = None) -> list[MirrorStatus]:
    at = now or utcnow()
    out = []
    for ex in session.scalars(select(Exchange).where(Exchange.api == API).order_by(Exchange.id)):
        feed = session.get(ExchangeFeed, ex.id)
        if feed is None:
            continue
        bank = session.get(Bank, ex.bank_id)
        ok = as_utc(feed.last_ok_at)
        stale_s = float(ex.settings.get("stale_after_s") or 86_400)
        lock = as_utc(feed.lock_until)
        out.append(
            MirrorStatus(
                name=ex.name,
                url=str(ex.settings.get("url")),
                remote_bank=str(ex.settings.get("bank")),
                bank=bank.name if bank is not None and bank.deleted_at is None else None,
                key_id=PinnedKey.from_b64(feed.publisher_key).key_id,
                paused=not ex.enabled,
                checkpoint=int(feed.checkpoint),
                applied=int(feed.applied),
                last_pull_at=as_utc(feed.last_pull_at),
                last_ok_at=ok,
                last_error=feed.last_error,
                stale=ex.enabled and (ok is None or (at - ok).total_seconds() > stale_s),
                quarantined=len(
                    session.scalars(
                        select(ExchangeQuarantine.id).where(ExchangeQuarantine.exchange_id == ex.id)
                    ).all()
                ),
                pulling=feed.lock_owner is not None and lock is not None and lock > at,
                review=feed.review or "none",
                review_hours=feed.review_hours,
                max_pdq_distance=bank.pdq_cap if bank is not None else None,
            )
        )
    return out


# --- pulling --------------------------------------------------------------------------------------


@dataclass
class PullReport:
    name: str
    pages: int = 0
    changes: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    #: of ``added``, those held for review (the exchange reviews before matching)
    held: int = 0
    checkpoint: int = 0
    quarantined: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class PullBusyError(ExchangeError):
    code = "pull_running"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str) -> bool:
    """Whether the lock's owner was a process on this host that no longer runs (killed -9)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _take_lock(db: Database, exchange_id: int, owner: str) -> None:
    def work(s: Session) -> None:
        feed = s.get(ExchangeFeed, exchange_id, with_for_update=True)
        assert feed is not None
        now = utcnow()
        until = as_utc(feed.lock_until)
        held = feed.lock_owner is not None and until is not None and until > now
        if held and feed.lock_owner != owner and not _owner_dead(feed.lock_owner or ""):
            raise PullBusyError(
                f"Another pull of this exchange is running ({feed.lock_owner}, until {until:%H:%M:%S} UTC); "
                "one fetcher per exchange.",
            )
        feed.lock_owner, feed.lock_until = owner, now + LOCK_TTL

    db.run(work, retries=0)


def _release_lock(db: Database, exchange_id: int, owner: str) -> None:
    with db.session() as s:
        s.execute(
            update(ExchangeFeed)
            .where(ExchangeFeed.exchange_id == exchange_id, ExchangeFeed.lock_owner == owner)
            .values(lock_owner=None, lock_until=None)
        )


def pull(
    db: Database,
    *,
    name: str,
    actor: str,
    fetch: Fetcher = net_fetch,
    page_size: int = DEFAULT_PAGE,
    max_pages: int | None = None,
) -> PullReport:
    """Pull until the feed has no more (or ``max_pages``); each page applied in its own transaction."""
    with db.session() as s:
        ex, feed = _get(s, name)
        exchange_id, settings = ex.id, dict(ex.settings)
        if not ex.enabled:
            raise ExchangeError(
                f"Exchange {name!r} is paused (takeback exchange pause --resume).", code="paused"
            )
        token = feed.token
    owner = _owner()
    _take_lock(db, exchange_id, owner)
    report = PullReport(name=name)
    tries = 0
    failed = True  # until the loop ends normally (an exception leaves last_ok_at as it was)
    local = bool(settings.get("local"))
    bank_path = quote(str(settings["bank"]), safe="")

    def url_after(checkpoint: int) -> str:
        return f"{settings['url']}/v1/feed/{bank_path}?after={checkpoint}&limit={page_size}"

    # The next page is fetched while this one is applied (the publisher builds it meanwhile), so
    # a sync costs the slower side, not both. It is only a body: it is used if the committed
    # checkpoint is the one it continues from, and verified then like any other.
    ahead: tuple[int, Future[bytes]] | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-fetch")
    try:
        while max_pages is None or report.pages < max_pages:
            with db.session() as s:
                feed_row = s.get(ExchangeFeed, exchange_id)
                assert feed_row is not None
                after, key = int(feed_row.checkpoint), PinnedKey.from_b64(feed_row.publisher_key)
                feed_row.last_pull_at = utcnow()
                feed_row.lock_until = utcnow() + LOCK_TTL
            try:
                if ahead is not None and ahead[0] == after:
                    body = ahead[1].result()
                else:
                    body = fetch(url_after(after), token, local)
            except TakebackError as exc:
                report.error = f"fetch failed: {exc.message}"
                break
            finally:
                ahead = None
            try:
                page = verify_page(body, key=key, after=after)
                if page.more and (max_pages is None or report.pages + 1 < max_pages):
                    ahead = (page.checkpoint, pool.submit(fetch, url_after(page.checkpoint), token, local))
                more = _apply(db, exchange_id=exchange_id, page=page, actor=actor, report=report)
            except FeedError as exc:
                ahead = None
                _quarantine(db, exchange_id, after, exc, body)
                report.quarantined.append(f"{exc.code}: {exc.message}")
                tries += 1
                if settings.get("on_bad_page") == "retry" and tries < RETRIES:
                    continue
                report.error = f"page after checkpoint {after} quarantined: {exc.message}"
                break
            except TakebackError as exc:  # e.g. the mirror bank was deleted: said, then raised
                report.error = exc.message
                raise
            tries = 0
            report.pages += 1
            report.checkpoint = page.checkpoint
            if not more:
                break
        failed = False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        with db.session() as s:
            s.execute(
                update(ExchangeFeed)
                .where(ExchangeFeed.exchange_id == exchange_id)
                .values(
                    last_error=report.error or ("the last pull stopped part-way" if failed else None),
                    **({"last_ok_at": utcnow()} if report.error is None and not failed else {}),
                )
            )
        _release_lock(db, exchange_id, owner)
    return report


def _quarantine(db: Database, exchange_id: int, after: int, exc: TakebackError, body: bytes) -> None:
    with db.session() as s:
        s.add(
            ExchangeQuarantine(
                exchange_id=exchange_id,
                after=after,
                code=exc.code,
                reason=exc.message,
                body=body,
                at=utcnow(),
            )
        )
        record_audit(
            s,
            actor="exchange",
            action="exchange.quarantine",
            object_type="exchange",
            object_id=exchange_id,
            details={"after": after, "code": exc.code, "reason": exc.message, "bytes": len(body)},
        )


def _apply(db: Database, *, exchange_id: int, page: Any, actor: str, report: PullReport) -> bool:
    """Apply one verified page and move the checkpoint, in one transaction; whether more follow."""

    def work(s: Session) -> bool:
        feed = s.get(ExchangeFeed, exchange_id, with_for_update=True)
        ex = s.get(Exchange, exchange_id)
        assert feed is not None and ex is not None
        if feed.store_id is None:
            feed.store_id, feed.remote_bank_id = page.store, page.bank_id
        elif (feed.store_id, feed.remote_bank_id) != (page.store, page.bank_id):
            raise FeedError(
                f"The page is from another feed (store {page.store}, bank {page.bank_id}), "
                "not the one pinned.",
                code="feed_other_feed",
            )
        moved = s.execute(
            update(ExchangeFeed)
            .where(ExchangeFeed.exchange_id == exchange_id, ExchangeFeed.checkpoint == page.after)
            .values(checkpoint=page.checkpoint, applied=ExchangeFeed.applied + len(page.changes))
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise FeedError("The checkpoint moved while this page was applied.", code="feed_out_of_order")
        bank = s.get(Bank, ex.bank_id)
        if bank is None or bank.deleted_at is not None:
            raise ExchangeError(
                f"The mirror bank of exchange {ex.name!r} was deleted: remove the exchange and add it again.",
                code="mirror_bank_gone",
            )
        hold = (
            banks.Hold(
                "pending_review",
                None if feed.review_hours is None else utcnow() + timedelta(hours=feed.review_hours),
            )
            if feed.review == "pending"
            else None
        )
        counts = _apply_changes(
            s, exchange_id=exchange_id, bank_name=bank.name, page=page, actor=actor, hold=hold
        )
        record_audit(
            s,
            actor=actor,
            action="exchange.apply",
            object_type="exchange",
            object_id=exchange_id,
            details={"after": page.after, "checkpoint": page.checkpoint, **counts},
        )
        report.changes += len(page.changes)
        report.added += counts["added"]
        report.updated += counts["updated"]
        report.removed += counts["removed"]
        report.held += counts["held"]
        return bool(page.more)

    return db.run(work, retries=0)


def _apply_changes(
    s: Session, *, exchange_id: int, bank_name: str, page: Any, actor: str, hold: banks.Hold | None = None
) -> dict[str, int]:
    """Apply a page's last change per key. New entries arrive held when ``hold`` is given (review
    before matching); updates keep an entry's local review (held stays held, accepted stays
    accepted, rejected stays disabled); removals apply at once, held or not."""
    last: dict[str, dict[str, Any]] = {}
    for c in page.changes:  # only each key's last change matters: each carries the entry's state now
        last.pop(c["key"], None)
        last[c["key"]] = c
    keys = list(last)
    mapped: dict[str, int] = {}
    for i in range(0, len(keys), 500):
        for k, cid in s.execute(
            select(ExchangeEntry.key, ExchangeEntry.content_id).where(
                ExchangeEntry.exchange_id == exchange_id, ExchangeEntry.key.in_(keys[i : i + 500])
            )
        ):
            mapped[k] = int(cid)
    source = f"exchange:{page.store}/{page.bank}"
    bank = banks.get_bank(s, name=bank_name)
    present = _present(s, bank.id, list(mapped.values()))
    removals = [k for k, c in last.items() if c["op"] == "remove"]
    upserts: list[tuple[str, banks.NewContent]] = []
    for k, c in last.items():
        if c["op"] == "remove" or c.get("entry") is None:  # gone since: its removal follows
            continue
        try:
            entry = entry_from_record(dict(c["entry"]), default_source=source)
        except TakebackError as exc:
            raise FeedError(f"Change {c['seq']}: {exc.message}", code="feed_bad_entry") from None
        if banks.entry_key(entry.signals) != k:
            raise FeedError(
                f"Change {c['seq']}: the key does not match the entry's hashes.", code="feed_bad_entry"
            )
        upserts.append((k, entry))
    gone = [mapped[k] for k in removals if k in mapped and mapped[k] in present]
    if gone:
        banks.remove_contents(s, bank_name=bank_name, content_ids=gone, actor=actor)
    updates = [(mapped[k], e) for k, e in upserts if mapped.get(k) in present]
    fresh = [(k, e) for k, e in upserts if mapped.get(k) not in present]
    banks.update_contents_state(s, bank_name=bank_name, updates=updates, actor=actor, source=source)
    # keys no longer held here: removed, or mapped to a local entry someone removed meanwhile
    _unmap(s, exchange_id, [k for k in removals if k in mapped] + [k for k, _ in fresh if k in mapped])
    held = 0
    if fresh:
        outcomes = banks.add_contents(
            s, bank_name=bank_name, entries=[e for _, e in fresh], actor=actor, hold=hold
        )
        rows = [
            {"exchange_id": exchange_id, "key": k, "content_id": o.content_id or o.duplicate_of}
            for (k, _), o in zip(fresh, outcomes, strict=True)
            if (o.content_id or o.duplicate_of) is not None
        ]
        bulk_insert(s.connection(), _ENTRY_TABLE, rows)  # straight to the driver: ORM bulk costs 4x
        if hold is not None:
            held = sum(1 for o in outcomes if o.content_id is not None)
    return {"added": len(fresh), "updated": len(updates), "removed": len(gone), "held": held}


def _present(s: Session, bank_id: int, ids: list[int]) -> set[int]:
    """Those of ``ids`` that are entries of the bank now."""
    out: set[int] = set()
    for i in range(0, len(ids), 500):
        out.update(
            int(x)
            for x in s.scalars(
                select(BankContent.id).where(
                    BankContent.bank_id == bank_id, BankContent.id.in_(ids[i : i + 500])
                )
            )
        )
    return out


def _unmap(s: Session, exchange_id: int, keys: list[str]) -> None:
    for i in range(0, len(keys), 500):
        s.execute(
            delete(ExchangeEntry).where(
                ExchangeEntry.exchange_id == exchange_id, ExchangeEntry.key.in_(keys[i : i + 500])
            )
        )
