"""Match signals against the banks: one long-lived :class:`Matcher` per process.

The matcher owns the PDQ index (``takeback.index.PdqIndex``, used only through its contract) and
keeps it in step with the store through the ``bank_change`` log:

* **Load once.** The index is saved in the data dir as ``index/pdq-<store id>.idx`` with the
  change-log sequence it reflects (its *watermark*). Opening loads it and applies only the changes
  after the watermark. A missing file, a damaged one (checksum), one from a restored database
  (watermark ahead of the log) or from another database (the store id is in its name) is rebuilt
  from the store, with a notice.
* **Fresh per lookup, cheaply.** Before a lookup the matcher reads ``max(seq)`` (one indexed query;
  rate-limited by ``check_interval`` if the caller wants) and, if the log moved, applies just those
  changes. A change committed by this process, another worker or a CLI is visible to the next lookup.
* **Policy at query time.** Candidates from the index are re-read from the store with their entry and
  bank state, so disabling an entry needs no index change and an expired disable lapses by itself.
  Each PDQ candidate's distance is recomputed from the stored value, so a stale index can never
  produce a false match.
* **Exact signals** (MD5, SHA-256: any type whose ``index_kind`` is ``EXACT``) are looked up in the
  store's ``(signal_type, value)`` index: one B-tree probe per value, always current, and no second
  copy of every hash in memory.
* **The index comes from the type.** The in-memory index holds the one registered single-value
  ``HAMMING256`` type (PDQ); a query's other types go to the index their ``index_kind`` names, and
  bags of frames (vPDQ) to the video matcher. Nothing here names a type.
* **Thread-safe.** Lookups share a read lock; applying changes takes the write lock briefly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from takeback.banks.models import Bank, BankContent, ContentSignal, is_active, is_held
from takeback.banks.service import (
    BankError,
    change_watermark,
    changes_after,
    get_bank,
    live_signals,
    store_id,
)
from takeback.clock import utcnow
from takeback.index import PdqIndex, PdqIndexError, kernels
from takeback.matching.models import BankPolicy, Match, MatchQuery, MatchResult, Suppressor
from takeback.signals import IndexKind, SignalType, SignalValue, get_signal_type, single_value_types
from takeback.store import Database

log = logging.getLogger("takeback.matching")

_FETCH_CHUNK = 500
_REBUILD_BATCH = 200_000
#: a catch-up over more changes than this (and than the index holds) rebuilds instead
REBUILD_AFTER_CHANGES = 100_000


class MatchingError(BankError):
    code = "matching_error"


def hamming_type() -> SignalType:
    """The single-value type the matcher's Hamming index holds (PDQ)."""
    return next(t for t in single_value_types() if t.index_kind is IndexKind.HAMMING256)


class _RWLock:
    """Many readers or one writer; a waiting writer holds back new readers so it cannot starve."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Matcher:
    """Matches queries against every live bank; safe to share between threads.

    ``index_dir`` is where the PDQ index is persisted (``None``: memory only). ``check_interval``
    (seconds) rate-limits the change-log check; 0 checks before every lookup. Call
    :meth:`mark_stale` after a write in this process to make the very next lookup check regardless.
    ``save_after`` is how many changes may accumulate before the index file is rewritten.
    """

    def __init__(
        self,
        db: Database,
        *,
        index_dir: Path | None = None,
        check_interval: float = 0.0,
        save_after: int = 1000,
    ) -> None:
        self.db = db
        self.index_dir = index_dir
        self.check_interval = check_interval
        self.save_after = save_after
        #: things a person should know about (index rebuilt and why); the CLI prints them
        self.notices: list[str] = []
        self._rw = _RWLock()
        self._refreshing = threading.Lock()
        self._saving = threading.Lock()
        self._index = PdqIndex()
        #: the type held in ``_index``
        self._near = hamming_type()
        self._banks: dict[int, BankPolicy] = {}
        self._last_check = -1e18
        self._saved_watermark = -1
        self._unsaved_changes = 0
        with db.session() as s:
            self._store_id = store_id(s)
        # Compiled search kernels are cached in the data dir. Nothing waits for them here: searches
        # run the NumPy kernels until they are compiled (in the background) and loaded (see kernels).
        if index_dir is not None:
            kernels.set_cache_dir(index_dir / "jit")
        self._load()

    # --- index lifecycle ------------------------------------------------------------------------

    @property
    def index_path(self) -> Path | None:
        return None if self.index_dir is None else self.index_dir / f"pdq-{self._store_id}.idx"

    @property
    def watermark(self) -> int:
        return int(self._index.watermark)

    def __len__(self) -> int:
        return len(self._index)

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        log.warning("%s", text)

    def _load(self) -> None:
        path = self.index_path
        with self.db.session() as s:
            head = change_watermark(s)
            self._reload_banks(s)
        loaded: PdqIndex | None = None
        if path is not None and path.exists():
            try:
                loaded = PdqIndex.load(path)
            except PdqIndexError as exc:
                self._notice(
                    f"The match index file was damaged ({exc.message}); rebuilding it from the database."
                )
            except (OSError, ValueError) as exc:
                self._notice(
                    f"The match index file could not be read ({exc}); rebuilding it from the database."
                )
            if loaded is not None and loaded.watermark > head:
                self._notice(
                    "The match index file is newer than the database (was the database restored?); "
                    "rebuilding it from the database."
                )
                loaded = None
        if loaded is None:
            self.rebuild()
            return
        self._index = loaded
        self._saved_watermark = loaded.watermark
        self.refresh(force=True)

    def rebuild(self) -> None:
        """Build the index from every live PDQ signal in the store, then save it."""
        started = time.perf_counter()
        index = PdqIndex()
        with self.db.session() as s:
            # Read the watermark first: rows read afterwards are at least that new, and replaying a
            # change the rows already show is harmless (catch-up applies current state, not deltas).
            checked = time.monotonic()
            head = change_watermark(s)
            self._reload_banks(s)
            ids: list[np.ndarray] = []
            hashes: list[np.ndarray] = []
            # Every PDQ signal straight from the (signal_type, value) index, which covers both columns:
            # joining each row to its entry and bank cost ~3x more (1M random lookups; issue 11).
            # Signals of deleted banks are taken out afterwards (usually there are none).
            rows = (
                s.connection()
                .execution_options(stream_results=True, yield_per=_REBUILD_BATCH)
                .execute(
                    select(ContentSignal.id, ContentSignal.value).where(
                        ContentSignal.signal_type == self._near.name
                    )
                )
            )
            for part in rows.partitions():
                ids.append(np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part)))
                hashes.append(
                    np.frombuffer(b"".join([bytes(r[1]) for r in part]), dtype=np.uint8).reshape(-1, 32)
                )
            deleted = s.scalars(select(Bank.id).where(Bank.deleted_at.is_not(None))).all()
            dropped = (
                s.scalars(
                    select(ContentSignal.id)
                    .join(BankContent, BankContent.id == ContentSignal.content_id)
                    .where(BankContent.bank_id.in_(deleted), ContentSignal.signal_type == self._near.name)
                ).all()
                if deleted
                else []
            )
        if dropped and ids:
            all_ids, all_hashes = np.concatenate(ids), np.concatenate(hashes)
            keep = ~np.isin(all_ids, np.asarray(dropped, dtype=np.int64))
            ids, hashes = [all_ids[keep]], [all_hashes[keep]]
        if ids:
            index = PdqIndex.build(np.concatenate(ids), np.concatenate(hashes))
        index.watermark = head
        with self._rw.write():
            self._index = index
            self._unsaved_changes = 0
            self._saved_watermark = -1
            self._last_check = checked
        log.info("built PDQ index: %d hashes in %.2f s", len(index), time.perf_counter() - started)
        self.save()

    def save(self) -> bool:
        """Write the index file atomically. Lookups carry on meanwhile (the index snapshots itself);
        a save already running here or in another process makes this one a no-op."""
        path = self.index_path
        if path is None or not self._saving.acquire(blocking=False):
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with _exclusive(path.with_suffix(".lock")) as got:
                if not got:
                    return False
                pending = self._unsaved_changes
                watermark = self._index.watermark
                self._index.save(path)
                self._saved_watermark = watermark
                self._unsaved_changes = max(0, self._unsaved_changes - pending)
            return True
        except OSError as exc:
            self._notice(
                f"Could not save the match index to {path} ({exc.strerror or exc}); it stays in memory."
            )
            return False
        finally:
            self._saving.release()

    def close(self) -> None:
        """Save if changes were applied since the file was written."""
        if self._unsaved_changes or (
            self._saved_watermark != self._index.watermark and self._saved_watermark >= 0
        ):
            self.save()

    # --- freshness ------------------------------------------------------------------------------

    def mark_stale(self) -> None:
        """Make the next lookup check the change log even within ``check_interval``."""
        self._last_check = -1e18

    def refresh(self, *, force: bool = False) -> int:
        """Apply changes committed since the watermark; returns how many signals changed."""
        if not force and time.monotonic() - self._last_check < self.check_interval:
            return 0
        with self.db.session() as s:
            return self._refresh_with(s, force=force)

    def _refresh_with(self, s: Session, *, force: bool) -> int:
        """:meth:`refresh` inside the caller's session (a lookup checks and reads in one session)."""
        if not force and time.monotonic() - self._last_check < self.check_interval:
            return 0
        with self._refreshing:
            self._last_check = time.monotonic()
            after = self._index.watermark
            head = change_watermark(s)
            if head == after:
                return 0
            if head < after:
                self._notice(
                    "The database's change log went backwards (restored?); rebuilding the match index."
                )
                self.rebuild()
                return len(self._index)
            if head - after > max(REBUILD_AFTER_CHANGES, len(self._index)):
                # replaying more changes than the index holds (a large import) costs more than
                # reading every hash again
                self.rebuild()
                return len(self._index)
            changed, bank_changed = changes_after(s, after=after, upto=head)
            current = live_signals(s, signal_type=self._near.name, ids=sorted(changed)) if changed else []
            if bank_changed:
                self._reload_banks(s)
            present = {sid for sid, _ in current}
            gone = np.fromiter((i for i in changed if i not in present), dtype=np.int64)
            with self._rw.write():
                if gone.size:
                    self._index.remove(gone)
                if current:
                    self._index.add(
                        np.fromiter((sid for sid, _ in current), dtype=np.int64, count=len(current)),
                        np.frombuffer(b"".join(v for _, v in current), dtype=np.uint8).reshape(-1, 32),
                    )
                self._index.watermark = head
                self._unsaved_changes += len(changed)
        if self._unsaved_changes >= self.save_after and self.index_dir is not None:
            # Writing a large index takes seconds: never inside a lookup.
            threading.Thread(target=self.save, name="takeback-index-save", daemon=True).start()
        return len(changed)

    def _reload_banks(self, s: Session) -> None:
        rows = s.scalars(select(Bank).where(Bank.deleted_at.is_(None))).all()
        self._banks = {b.id: BankPolicy.from_bank(b) for b in rows}

    # --- lookups --------------------------------------------------------------------------------

    def _scope(
        self, s: Session, names: Sequence[str] | None, now: datetime, inactive: bool = False
    ) -> dict[int, BankPolicy]:
        """Active banks to report (``inactive``: disabled ones too): the named ones (all when none
        named) plus every allow-list bank."""
        wanted: set[int] = set()
        if names:
            by_name = {b.name.lower(): b.id for b in self._banks.values()}
            for n in names:
                known = by_name.get(n.strip().lower())
                # not cached: created since our last look at the log, or unknown (raises here,
                # naming no other bank: the matcher does not know who is asking)
                wanted.add(known if known is not None else get_bank(s, name=n, named=()).id)
            if wanted - set(self._banks):
                self._reload_banks(s)
        policies = self._banks
        return {
            b.id: b
            for b in policies.values()
            if (inactive or b.active(now)) and (not names or b.id in wanted or b.allow_list)
        }

    def match(
        self,
        queries: Sequence[MatchQuery],
        *,
        banks: Sequence[str] | None = None,
        now: datetime | None = None,
        inactive: bool = False,
    ) -> list[MatchResult]:
        """Every match of every query, in query order (see :class:`MatchResult`). ``inactive`` also
        reports disabled entries and banks (``Match.entry_active`` / ``bank_active`` say which):
        HMA's raw lookup does not filter them; they never suppress anything."""
        at = now or utcnow()
        results = [MatchResult(q) for q in queries]
        with self.db.session() as s:
            self._refresh_with(s, force=False)
            scope = self._scope(s, banks, at, inactive)
            if not scope:
                return results
            radius = max(b.threshold for b in scope.values())
            # The Hamming type: one batched search over every variant (orientation) of every query.
            near = self._near.name
            owners: list[tuple[int, int]] = []  # (query index, orientation index) per searched hash
            hashes: list[bytes] = []
            exact: dict[str, dict[bytes, list[int]]] = {}
            for qi, q in enumerate(queries):
                for name, sv in q.signals.items():
                    if name == near:
                        for oi, h in enumerate(sv.searched):
                            owners.append((qi, oi))
                            hashes.append(h)
                    elif get_signal_type(name).index_kind is IndexKind.EXACT:
                        exact.setdefault(name, {}).setdefault(sv.value, []).append(qi)
            candidates: dict[int, set[int]] = {}  # content_signal id -> query indexes
            if hashes:
                arr = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32)
                with self._rw.read():
                    searched, ids, _ = self._index.search_many(arr, radius)
                for h, sid in zip(searched.tolist(), ids.tolist(), strict=True):
                    candidates.setdefault(sid, set()).add(owners[h][0])
            for row in _fetch(s, candidates, exact):
                self._judge(row, queries, results, candidates, exact, scope, at, inactive)
        for r in results:
            if r.matches:
                r.matches = _with_allow_lists(r.matches)
        return results

    def match_batch(
        self,
        signal_type: str,
        values: Sequence[bytes],
        *,
        banks: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> dict[int, MatchResult]:
        """Many hashes of one type (no dihedral): the results of those that matched, by position.

        Every input not in the answer matched nothing. The same policy as :meth:`match` (one
        change-log check, one read of the candidates' entries and banks, allow-lists), but no
        object per input: a 10,000-hash batch is one index search and a few hundred matches.
        """
        at = now or utcnow()
        queries = _LazyQueries(values, signal_type)
        results = _LazyResults(queries)
        if not values:
            return {}
        with self.db.session() as s:
            self._refresh_with(s, force=False)
            scope = self._scope(s, banks, at)
            if not scope:
                return {}
            candidates: dict[int, set[int]] = {}
            exact: dict[str, dict[bytes, list[int]]] = {}
            st = get_signal_type(signal_type)
            if st is self._near:
                radius = max(b.threshold for b in scope.values())
                arr = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, 32)
                with self._rw.read():
                    qi, ids, _ = self._index.search_many(arr, radius)
                for q, sid in zip(qi.tolist(), ids.tolist(), strict=True):
                    candidates.setdefault(sid, set()).add(q)
            elif st.index_kind is IndexKind.EXACT and not st.bag_of_frames:
                by_value = exact.setdefault(signal_type, {})
                for i, v in enumerate(values):
                    by_value.setdefault(v, []).append(i)
            else:
                raise MatchingError(
                    f"Cannot match {signal_type!r} hashes in a batch.", code="invalid_request"
                )
            for row in _fetch(s, candidates, exact):
                self._judge(row, queries, results, candidates, exact, scope, at)
        for r in results.values():
            r.matches = _with_allow_lists(r.matches)
        return {i: r for i, r in results.items() if r.matches}

    def _judge(
        self,
        row: Any,
        queries: Sequence[MatchQuery] | Mapping[int, MatchQuery],
        results: Sequence[MatchResult] | Mapping[int, MatchResult],
        candidates: dict[int, set[int]],
        exact: dict[str, dict[bytes, list[int]]],
        scope: dict[int, BankPolicy],
        at: datetime,
        inactive: bool = False,
    ) -> None:
        sid, content_id, signal_type, value, quality, bank_id, note, meta, source, enabled, until = row[:11]
        bank = scope.get(bank_id)
        if bank is None or is_held(row[11], row[12], at):
            return  # a held entry (pending review, disputed) matches nowhere, raw lookups included
        entry_active = is_active(enabled, until, at)
        if not entry_active and not inactive:
            return
        bank_active = bank.active(at)
        value = bytes(value)
        near = self._near
        if signal_type == near.name:
            for qi in sorted(candidates.get(sid, ())):
                q = queries[qi]
                searched = q.values(signal_type)
                dists = [near.distance(h, value) for h in searched]
                best = min(range(len(dists)), key=dists.__getitem__)
                if dists[best] > bank.threshold:
                    continue
                results[qi].matches.append(
                    Match(
                        bank=bank.name,
                        bank_id=bank.id,
                        allow_list=bank.allow_list,
                        content_id=content_id,
                        signal_type=signal_type,
                        distance=dists[best],
                        threshold=bank.threshold,
                        orientation=near.variant_names[best] if len(searched) > 1 else None,
                        note=note,
                        metadata=dict(meta or {}),
                        source=source,
                        stored_quality=quality,
                        low_quality=q.low_quality or near.is_low_quality(quality),
                        entry_active=entry_active,
                        bank_active=bank_active,
                        bank_ratio=bank.ratio,
                    )
                )
        else:
            for qi in exact.get(signal_type, {}).get(value, ()):
                results[qi].matches.append(
                    Match(
                        bank=bank.name,
                        bank_id=bank.id,
                        allow_list=bank.allow_list,
                        content_id=content_id,
                        signal_type=signal_type,
                        distance=0,
                        threshold=0,
                        orientation=None,
                        note=note,
                        metadata=dict(meta or {}),
                        source=source,
                        stored_quality=None,
                        low_quality=False,
                        entry_active=entry_active,
                        bank_active=bank_active,
                        bank_ratio=bank.ratio,
                    )
                )

    def stats(self) -> dict[str, Any]:
        return {
            "pdq_hashes": len(self._index),
            "watermark": self._index.watermark,
            "index_file": str(self.index_path) if self.index_path else None,
        }


def _fetch(
    s: Session, candidates: dict[int, set[int]], exact: dict[str, dict[bytes, list[int]]]
) -> Iterator[Any]:
    """Candidate rows with their entry's state: PDQ by signal id, exact types by value."""
    conditions: list[Any] = []
    ids = sorted(candidates)
    for i in range(0, len(ids), _FETCH_CHUNK):
        conditions.append(ContentSignal.id.in_(ids[i : i + _FETCH_CHUNK]))
    for name, values in exact.items():
        vals = list(values)
        for i in range(0, len(vals), _FETCH_CHUNK):
            conditions.append(
                (ContentSignal.signal_type == name) & ContentSignal.value.in_(vals[i : i + _FETCH_CHUNK])
            )
    cols = (
        ContentSignal.id,
        BankContent.id,
        ContentSignal.signal_type,
        ContentSignal.value,
        ContentSignal.quality,
        BankContent.bank_id,
        BankContent.note,
        BankContent.meta,
        BankContent.source,
        BankContent.enabled,
        BankContent.disabled_until,
        BankContent.hold_reason,
        BankContent.held_until,
    )
    # Small lookups (the common case: one upload) go in one round trip.
    for i in range(0, len(conditions), 4):
        yield from s.execute(
            select(*cols)
            .join(BankContent, BankContent.id == ContentSignal.content_id)
            .where(or_(*conditions[i : i + 4]))
        )


def _with_allow_lists(matches: list[Match]) -> list[Match]:
    """Sorted; an allow-list match marks the query's other matches suppressed, naming the entry."""
    matches.sort(key=lambda m: (m.distance, m.bank, m.content_id, m.signal_type))
    allow = [m for m in matches if m.allow_list and m.entry_active and m.bank_active]
    if not allow:
        return matches

    def strength(m: Match) -> tuple[bool, int, int]:  # identical bytes first, then the closest
        return (get_signal_type(m.signal_type).index_kind is not IndexKind.EXACT, m.distance, m.content_id)

    best = min(allow, key=strength)
    by = Suppressor(best.bank, best.content_id, best.signal_type, best.distance, best.bank_id)
    return [m if m.allow_list else replace(m, suppressed_by=by) for m in matches]


class _LazyQueries(dict[int, MatchQuery]):
    """``MatchQuery`` objects of a batch, made only for the inputs that are looked at."""

    def __init__(self, values: Sequence[bytes], signal_type: str) -> None:
        super().__init__()
        self._values = values
        self._type = signal_type

    def __missing__(self, i: int) -> MatchQuery:
        q = MatchQuery(label=str(i), signals={self._type: SignalValue(self._type, self._values[i])})
        self[i] = q
        return q


class _LazyResults(dict[int, MatchResult]):
    """``MatchResult`` objects of a batch, made on the first match of an input."""

    def __init__(self, queries: _LazyQueries) -> None:
        super().__init__()
        self._queries = queries

    def __missing__(self, i: int) -> MatchResult:
        r = MatchResult(self._queries[i])
        self[i] = r
        return r


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """A non-blocking inter-process lock (so two processes never write the same index file)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: atomic rename alone
        yield True
        return
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def open_matcher(db: Database, *, data_dir: Path | None, **kwargs: Any) -> Matcher:
    """The matcher for ``db``, persisting its index under ``data_dir/index`` (``None``: memory only)."""
    return Matcher(db, index_dir=None if data_dir is None else data_dir / "index", **kwargs)
