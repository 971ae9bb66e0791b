"""Running matches for a caller: bank scope, the audit row for matched lookups, HMA's result shapes.

Every route that matches goes through :func:`match_for` (a video's frames: :func:`match_video_for`),
so scope and audit cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import anyio.to_thread

from takeback.errors import TakebackError
from takeback.matching import Match, MatchQuery, MatchResult
from takeback.matching.video import MatchKind
from takeback.matching.video_banks import SIGNAL as VIDEO_SIGNAL
from takeback.matching.video_banks import VideoBankMatch
from takeback.signals import REGISTRY, IndexKind
from takeback.signals.vpdq import VpdqResult
from takeback.web.deps import ServiceState
from takeback.web.security import Principal, bank_for


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


def _check_scope(state: ServiceState, principal: Principal, banks: list[str] | None) -> None:
    """A scoped key's named banks must be in its scope (else they read as unknown). Unscoped keys
    need no check here: the matcher refuses an unknown name itself, naming no other bank."""
    if principal.bank_ids is None or not banks:
        return
    with state.db.sessionmaker() as s:
        for name in banks:
            bank_for(s, principal, name)


#: lookups with more queries than this skip the batcher (they are a batch already)
BATCHER_MAX_QUERIES = 64


async def match_for(
    state: ServiceState,
    principal: Principal,
    queries: Sequence[MatchQuery],
    *,
    banks: list[str] | None,
    route: str,
) -> list[MatchResult]:
    """Match ``queries`` as ``principal`` may see them, and audit the lookup if anything matched."""
    matcher = await state.matcher.ready_matcher()  # waits while the index loads
    if principal.bank_ids is not None and banks:
        await anyio.to_thread.run_sync(_check_scope, state, principal, banks)
    if len(queries) <= BATCHER_MAX_QUERIES:
        results = await state.batcher.match(queries, banks)
    else:
        results = await anyio.to_thread.run_sync(lambda: matcher.match(queries, banks=banks))
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
    matcher = await state.matcher.ready_matcher()  # waits while the index loads
    if principal.bank_ids is not None and banks:
        await anyio.to_thread.run_sync(_check_scope, state, principal, banks)
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
    matched: list[tuple[int, Match]] = []
    for i, r in results:
        if principal.bank_ids is not None:
            r.matches = [_as_seen_by(principal, m) for m in r.matches if principal.may_use_bank(m.bank_id)]
        matched.extend((i, m) for m in r.matches)
    if matched:
        await state.audit.record(
            actor=principal.actor,
            action="lookup.match",
            object_type="lookup",
            details={
                "route": route,
                "queries": n_queries,
                "matched_queries": len({i for i, _ in matched}),
                # [query index, bank id, content id, signal type, distance, effective]
                "matches": [
                    [i, m.bank_id, m.content_id, m.signal_type, m.distance, effective(m)] for i, m in matched
                ],
            },
        )


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


async def hma_match_for(
    state: ServiceState,
    principal: Principal,
    queries: Sequence[MatchQuery],
    *,
    banks: list[str] | None,
    route: str,
) -> list[MatchResult]:
    """:func:`match_for` as HMA filters: a ``banks`` name that is no bank matches nothing (no 404)."""
    try:
        return await match_for(state, principal, queries, banks=banks, route=route)
    except TakebackError as exc:
        if exc.code != "unknown_bank" or not banks:
            raise
    known = await anyio.to_thread.run_sync(_known, state, principal, banks)
    if not known:
        return [MatchResult(q) for q in queries]
    return await match_for(state, principal, queries, banks=known, route=route)


def effective(m: Match) -> bool:
    """A match that should act: in a blocking bank and not suppressed by an allow-list entry."""
    return not m.allow_list and not m.suppressed


def hma_entry(m: Match, *, include_metadata: bool = False) -> dict[str, Any]:
    """One match as HMA writes it: distance is a string, ``"-"`` for an exact-match type (video_md5)."""
    exact = REGISTRY[m.signal_type].index_kind is IndexKind.EXACT
    entry: dict[str, Any] = {"bank_content_id": m.content_id, "distance": "-" if exact else str(m.distance)}
    if include_metadata:
        entry.update(note=m.note, metadata=m.metadata)
    return entry


def hma_by_bank(
    matches: Sequence[Match], *, include_metadata: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """``{bank: [{bank_content_id, distance}]}`` of the effective matches."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        if effective(m):
            out.setdefault(m.bank, []).append(hma_entry(m, include_metadata=include_metadata))
    return out


def hma_by_signal_type(
    matches: Sequence[Match], signal_types: Sequence[str], *, include_metadata: bool = False
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{signal_type: {bank: [...]}}`` with an entry (maybe empty) for every queried type, under
    HMA's names (``video_md5``)."""
    from takeback.web.hma import hma_name

    return {
        hma_name(st): hma_by_bank(
            [m for m in matches if m.signal_type == st], include_metadata=include_metadata
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
    await state.matcher.ready_matcher()  # waits while the index loads, as every lookup
    if principal.bank_ids is not None and banks:
        await anyio.to_thread.run_sync(_check_scope, state, principal, banks)
    found = await anyio.to_thread.run_sync(lambda: state.matcher.video.match(video, banks=banks))
    if principal.bank_ids is not None:
        found = [
            m
            if m.suppressed_by is None or principal.may_use_bank(m.suppressed_by[2] or -1)
            else m.hidden_suppressor()
            for m in found
            if principal.may_use_bank(m.bank_id)
        ]
    acted = [m for m in found if m.kind is not MatchKind.PARTIAL]
    if acted:
        await state.audit.record(
            actor=principal.actor,
            action="lookup.match",
            object_type="lookup",
            details={
                "route": route,
                "queries": 1,
                "matched_queries": 1,
                # as for hashes; a video's distance is 100 minus the smaller share in percent
                "matches": [
                    [0, m.bank_id, m.content_id, VIDEO_SIGNAL, m.distance, m.effective] for m in acted
                ],
            },
        )
    return found


async def hma_match_video_for(
    state: ServiceState,
    principal: Principal,
    video: VpdqResult,
    *,
    banks: list[str] | None,
    route: str,
) -> list[VideoBankMatch]:
    """:func:`match_video_for` as HMA filters, like :func:`hma_match_for`: a ``banks`` name that is
    no bank (or outside the key's scope) matches nothing, no 404."""
    if banks:
        banks = await anyio.to_thread.run_sync(_known, state, principal, banks)
        if not banks:
            return []
    return await match_video_for(state, principal, video, banks=banks, route=route)


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
