"""Running matches for a caller: bank scope, the audit row for matched lookups, HMA's result shapes.

Every route that matches goes through :func:`match_for` (many hashes of one type:
:func:`match_batch_for`; a video's frames: :func:`match_video_for`), each of them one step before
the matcher (the index, the key's scope: :func:`_ready_and_in_scope`) and one after (the matches the
key may see, the audit row: :func:`_audit`), so scope and audit cannot be forgotten. HMA's variants
(``hma_*``) share one more step, :func:`_as_hma`: an unknown bank matches nothing.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import anyio.to_thread

from takeback.errors import TakebackError
from takeback.matching import Match, Matcher, MatchQuery, MatchResult
from takeback.matching.video import MatchKind
from takeback.matching.video_banks import SIGNAL as VIDEO_SIGNAL
from takeback.matching.video_banks import VideoBankMatch
from takeback.signals import REGISTRY, IndexKind
from takeback.signals.vpdq import VpdqResult
from takeback.web.deps import ServiceState
from takeback.web.security import Principal, bank_for

T = TypeVar("T")


def parse_banks(param: str | Sequence[str] | None) -> list[str] | None:
    """HMA's ``banks=A,B`` (or a JSON list) -> names; empty means every bank."""
    if param is None:
        return None
    items = param.split(",") if isinstance(param, str) else list(param)
    names = [n.strip() for n in items if n and n.strip()]
    return names or None


def query_from(values: dict[str, bytes], label: str = "query") -> MatchQuery:
    """A query from ``{signal_type: value bytes}``."""
    return MatchQuery.of(label, **values)


def _check_scope(state: ServiceState, principal: Principal, banks: list[str]) -> None:
    """A scoped key's named banks must be in its scope (else they read as unknown)."""
    with state.db.sessionmaker() as s:
        for name in banks:
            bank_for(s, principal, name)


async def _ready_and_in_scope(state: ServiceState, principal: Principal, banks: list[str] | None) -> Matcher:
    """The step before every match: the index (waiting while it loads), and a scoped key's named
    banks checked against its scope. Unscoped keys need no check here: the matchers refuse an
    unknown name themselves, naming no other bank, and without a database query on the way."""
    matcher = await state.matcher.ready_matcher()
    if principal.bank_ids is not None and banks:
        await anyio.to_thread.run_sync(_check_scope, state, principal, banks)
    return matcher


async def _audit(
    state: ServiceState, principal: Principal, route: str, n_queries: int, rows: list[list[Any]]
) -> None:
    """The step after every match: one audit row for a lookup that matched (nothing otherwise).
    ``rows``: [query index, bank id, content id, signal type, distance, effective] per match."""
    if not rows:
        return
    await state.audit.record(
        actor=principal.actor,
        action="lookup.match",
        object_type="lookup",
        details={
            "route": route,
            "queries": n_queries,
            "matched_queries": len({r[0] for r in rows}),
            "matches": rows,
        },
    )


#: lookups with more queries than this skip the batcher (they are a batch already)
BATCHER_MAX_QUERIES = 64


async def match_for(
    state: ServiceState,
    principal: Principal,
    queries: Sequence[MatchQuery],
    *,
    banks: list[str] | None,
    route: str,
    inactive: bool = False,
) -> list[MatchResult]:
    """Match ``queries`` as ``principal`` may see them, and audit the lookup if anything matched.
    ``inactive``: disabled entries and banks too (``Matcher.match``)."""
    matcher = await _ready_and_in_scope(state, principal, banks)
    if len(queries) <= BATCHER_MAX_QUERIES:
        results = await state.batcher.match(queries, banks, inactive=inactive)
    else:
        results = await anyio.to_thread.run_sync(
            lambda: matcher.match(queries, banks=banks, inactive=inactive)
        )
    await _restrict_and_audit(state, principal, enumerate(results), len(queries), route)
    return results


async def match_batch_for(
    state: ServiceState,
    principal: Principal,
    signal_type: str,
    values: Sequence[bytes],
    *,
    banks: list[str] | None,
    route: str,
) -> dict[int, MatchResult]:
    """:func:`match_for` for many hashes of one type: results of the inputs that matched, by position
    (``Matcher.match_batch``); the same scope and audit."""
    matcher = await _ready_and_in_scope(state, principal, banks)
    found = await anyio.to_thread.run_sync(lambda: matcher.match_batch(signal_type, values, banks=banks))
    await _restrict_and_audit(state, principal, sorted(found.items()), len(values), route)
    return found


async def _restrict_and_audit(
    state: ServiceState,
    principal: Principal,
    results: Iterable[tuple[int, MatchResult]],
    n_queries: int,
    route: str,
) -> None:
    """Drop matches in banks the key may not use, then audit the lookup if anything matched."""
    rows: list[list[Any]] = []
    for i, r in results:
        if principal.bank_ids is not None:
            r.matches = [_as_seen_by(principal, m) for m in r.matches if principal.may_use_bank(m.bank_id)]
        rows.extend([i, m.bank_id, m.content_id, m.signal_type, m.distance, effective(m)] for m in r.matches)
    await _audit(state, principal, route, n_queries, rows)


def _as_seen_by(principal: Principal, m: Match) -> Match:
    """``m`` with its suppressing allow-list entry unnamed when the key may not use that bank (an
    allow-list applies to every key; its bank's name, which can identify a case, is shown only to
    keys that may see it)."""
    s = m.suppressed_by
    if s is None or (s.bank_id is not None and principal.may_use_bank(s.bank_id)):
        return m
    return replace(m, suppressed_by=s.hidden())


def _known(state: ServiceState, principal: Principal, names: list[str]) -> list[str]:
    """The names among ``names`` of banks that exist and ``principal`` may use."""
    out = []
    with state.db.sessionmaker() as s:
        for n in names:
            try:
                bank_for(s, principal, n)
            except TakebackError:
                continue
            out.append(n)
    return out


async def _as_hma(
    state: ServiceState,
    principal: Principal,
    banks: list[str] | None,
    run: Callable[[list[str] | None], Awaitable[T]],
    nothing: Callable[[], T],
) -> T:
    """``run(banks)`` as HMA filters: a ``banks`` name that is no bank (or outside the key's scope)
    matches nothing, no 404. Names are looked up only when the matcher refused one."""
    try:
        return await run(banks)
    except TakebackError as exc:
        if exc.code != "unknown_bank" or not banks:
            raise
    known = await anyio.to_thread.run_sync(_known, state, principal, banks)
    return await run(known) if known else nothing()


async def hma_match_for(
    state: ServiceState,
    principal: Principal,
    queries: Sequence[MatchQuery],
    *,
    banks: list[str] | None,
    route: str,
    inactive: bool = False,
) -> list[MatchResult]:
    """:func:`match_for` as HMA filters (:func:`_as_hma`)."""
    return await _as_hma(
        state,
        principal,
        banks,
        lambda names: match_for(state, principal, queries, banks=names, route=route, inactive=inactive),
        lambda: [MatchResult(q) for q in queries],
    )


def blocking(m: Match) -> bool:
    """In a blocking bank and not suppressed by an allow-list entry (enabled or not)."""
    return not m.allow_list and not m.suppressed


def effective(m: Match) -> bool:
    """A match that should act: enabled, in an enabled blocking bank, not suppressed by an allow-list
    entry."""
    return blocking(m) and m.entry_active and m.bank_active


def hma_ratio(m: Match) -> float:
    """The bank's ``matching_enabled_ratio`` as HMA shows it: its ratio while enabled, else 0 (or the
    negative ratio it was given)."""
    return m.bank_ratio if m.bank_active else min(0.0, m.bank_ratio)


class CoinFlip:
    """HMA's coin flip for one lookup of one signal type: a bank takes part when its ratio is at least
    ``random.Random(seed).random()`` (``seed`` as given, so a seed gives the same flip every time;
    without one, a fresh flip), or at least 0 with ``bypass_coinflip`` (which lets disabled banks
    match too, as in HMA). The flip is drawn only for a bank with a ratio under 1."""

    __slots__ = ("_seed", "_value")

    def __init__(self, seed: str | None, *, bypass: bool = False) -> None:
        self._seed = seed
        self._value: float | None = 0.0 if bypass else None

    @property
    def value(self) -> float:
        if self._value is None:
            # HMA's own draw (a sampling ratio, not a secret: a seed must give HMA's flip)
            self._value = random.Random(self._seed).random()  # noqa: S311
        return self._value

    def allows(self, m: Match) -> bool:
        ratio = hma_ratio(m)
        if ratio >= 1.0:  # the flip is below 1
            return True
        return ratio >= self.value


def hma_entry(m: Match, *, include_metadata: bool = False) -> dict[str, Any]:
    """One match as HMA writes it: distance is a string, ``"-"`` for an exact-match type (video_md5)."""
    exact = REGISTRY[m.signal_type].index_kind is IndexKind.EXACT
    entry: dict[str, Any] = {"bank_content_id": m.content_id, "distance": "-" if exact else str(m.distance)}
    if include_metadata:
        entry.update(note=m.note, metadata=m.metadata)
    return entry


def hma_by_bank(
    matches: Sequence[Match], *, include_metadata: bool = False, coin: CoinFlip | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{bank: [{bank_content_id, distance}]}`` of the effective matches (with ``coin``: of enabled
    entries in the banks the coin flip lets in)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        if blocking(m) and m.entry_active and (m.bank_active if coin is None else coin.allows(m)):
            out.setdefault(m.bank, []).append(hma_entry(m, include_metadata=include_metadata))
    return out


def hma_by_signal_type(
    matches: Sequence[Match],
    signal_types: Sequence[str],
    *,
    include_metadata: bool = False,
    seed: str | None = None,
    bypass_coinflip: bool = False,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{signal_type: {bank: [...]}}`` with an entry (maybe empty) for every queried type, under
    HMA's names (``video_md5``); one coin flip per type, as HMA looks each type up on its own."""
    from takeback.web.hma import hma_name

    return {
        hma_name(st): hma_by_bank(
            [m for m in matches if m.signal_type == st],
            include_metadata=include_metadata,
            coin=CoinFlip(seed, bypass=bypass_coinflip),
        )
        for st in signal_types
    }


async def match_video_for(
    state: ServiceState,
    principal: Principal,
    video: VpdqResult,
    *,
    banks: list[str] | None,
    route: str,
) -> list[VideoBankMatch]:
    """:func:`match_for` for a video's vPDQ against the banks' videos (the worker's ``VideoMatcher``):
    the same scope and audit. Partial matches are returned (``/v1`` shows them) but not audited."""
    await _ready_and_in_scope(state, principal, banks)  # as every lookup: the index, the scope
    found = await anyio.to_thread.run_sync(lambda: state.matcher.video.match(video, banks=banks))
    if principal.bank_ids is not None:
        found = [
            m
            if m.suppressed_by is None or principal.may_use_bank(m.suppressed_by[2] or -1)
            else m.hidden_suppressor()
            for m in found
            if principal.may_use_bank(m.bank_id)
        ]
    # as for hashes; a video's distance is 100 minus the smaller share in percent
    rows: list[list[Any]] = [
        [0, m.bank_id, m.content_id, VIDEO_SIGNAL, m.distance, m.effective]
        for m in found
        if m.kind is not MatchKind.PARTIAL
    ]
    await _audit(state, principal, route, 1, rows)
    return found


async def hma_match_video_for(
    state: ServiceState,
    principal: Principal,
    video: VpdqResult,
    *,
    banks: list[str] | None,
    route: str,
) -> list[VideoBankMatch]:
    """:func:`match_video_for` as HMA filters (:func:`_as_hma`)."""
    return await _as_hma(
        state,
        principal,
        banks,
        lambda names: match_video_for(state, principal, video, banks=names, route=route),
        list,
    )


def hma_video_entry(m: VideoBankMatch, *, include_metadata: bool = False) -> dict[str, Any]:
    """One video match in HMA's shape: ``distance`` (a string, 100 minus the smaller share in
    percent) plus both shares under HMA's vPDQ names and the kind (match / clip / contains)."""
    entry: dict[str, Any] = {
        "bank_content_id": m.content_id,
        "distance": str(m.distance),
        "query_match_percent": round(100 * m.video.query_share, 2),
        "compared_match_percent": round(100 * m.video.coverage, 2),
        "kind": str(m.kind),
    }
    if include_metadata:
        entry.update(note=m.note, metadata=m.metadata)
    return entry


def hma_video_by_bank(
    matches: Sequence[VideoBankMatch], *, include_metadata: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """``{bank: [...]}`` of the effective video matches."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        if m.effective:
            out.setdefault(m.bank, []).append(hma_video_entry(m, include_metadata=include_metadata))
    return out
