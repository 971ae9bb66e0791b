"""Adaptive batching of concurrent lookups into one matcher call.

Its own module (not in ``lookups``) because the per-worker ``ServiceState`` holds one, while
``lookups`` takes that state: each imports this one instead of the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import anyio.to_thread

from takeback.matching import MatchQuery, MatchResult
from takeback.web.index import MatcherHandle

#: a group of lookups that share one matcher call: (bank names or None for all, with disabled ones)
_Group = tuple[tuple[str, ...] | None, bool]


class MatchBatcher:
    """Coalesces concurrent small lookups into one matcher call (adaptive batching).

    A lookup joins a queue; one task per worker drains it, running everything queued as one
    ``Matcher.match`` in a thread while new lookups queue behind it. Idle, a lookup runs alone (one
    thread hop); under load, dozens share one batched index search, which costs a fraction of as
    many single searches. Requests naming different banks (or asking for disabled entries too)
    go in separate groups.
    """

    def __init__(self, matcher: MatcherHandle) -> None:
        self._matcher = matcher
        self._queue: list[tuple[Sequence[MatchQuery], _Group, asyncio.Future[Any]]] = []
        self._draining = False
        self.batches = 0
        self.lookups = 0

    async def match(
        self, queries: Sequence[MatchQuery], banks: list[str] | None, *, inactive: bool = False
    ) -> list[MatchResult]:
        fut: asyncio.Future[list[MatchResult]] = asyncio.get_running_loop().create_future()
        self._queue.append((queries, (tuple(banks) if banks else None, inactive), fut))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    def _run(
        self, groups: dict[_Group, list[Sequence[MatchQuery]]]
    ) -> dict[_Group, list[MatchResult] | BaseException]:
        matcher = self._matcher.get()
        out: dict[_Group, list[MatchResult] | BaseException] = {}
        for group, parts in groups.items():
            banks, inactive = group
            flat = [q for part in parts for q in part]
            try:
                out[group] = matcher.match(flat, banks=list(banks) if banks else None, inactive=inactive)
            except BaseException as exc:  # delivered to the requests of this group only
                out[group] = exc
        return out

    async def _drain(self) -> None:
        try:
            while self._queue:
                jobs, self._queue = self._queue, []
                groups: dict[_Group, list[Sequence[MatchQuery]]] = {}
                for queries, banks, _ in jobs:
                    groups.setdefault(banks, []).append(queries)
                try:
                    done = await anyio.to_thread.run_sync(self._run, groups)
                except BaseException as exc:
                    for *_, fut in jobs:
                        if not fut.done():
                            fut.set_exception(exc)
                    raise
                self.batches += 1
                self.lookups += len(jobs)
                offsets: dict[_Group, int] = {}
                for queries, banks, fut in jobs:
                    got = done[banks]
                    if fut.done():
                        continue
                    if isinstance(got, BaseException):
                        fut.set_exception(got)
                        continue
                    at = offsets.get(banks, 0)
                    fut.set_result(got[at : at + len(queries)])
                    offsets[banks] = at + len(queries)
        finally:
            self._draining = False
