"""Grouping as pluggable steps: each step reads the scanned items and returns groups and links.

Why steps: the relations an examiner needs grow over time (near-duplicates, per-person folders,
sources and their derivatives today; identity groups from consent-based face matching next). A step
is a small object with a ``name``, a ``version`` and ``run(ctx) -> StepResult``; the scan stores what
it returns (tables ``grp``, ``grp_member``, ``link``), seals it in the custody log and puts it in the
report. A step never touches those tables itself.

The :class:`GroupingContext` gives a step what it may need and nothing it must not do: read-only
item rows, content bytes read again and checked against their SHA-256 (:meth:`contents`), and the
scan's worker pool (:meth:`map_contents`) for pixel work. A face-matching step will use exactly
these: enrolled, consented templates come from its own store; the case supplies pixels.

Third-party steps register under the entry-point group ``takeback.grouping`` (``name = module:Class``)
and are run when named in the scan's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import select

from takeback.triage.casedb import CaseDB
from takeback.triage.content import ContentAccess, ContentUnavailableError
from takeback.triage.models import DONE, ScanSettings, item
from takeback.triage.pool import WorkerPool

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Member:
    item_id: int
    role: str = "member"  # member | representative | source | derivative | related
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    kind: str
    label: str
    key: str
    members: list[Member]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Link:
    """``derived_item`` was (probably) made from ``source_item``; ``directed=False``: related, the
    direction is unknown (the two are then in id order)."""

    source_item: int
    derived_item: int
    kind: str
    directed: bool
    score: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    groups: list[Group] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # limitations met while running (for the report)


class GroupingStep(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]
    title: ClassVar[str]

    def run(self, ctx: GroupingContext) -> StepResult: ...


class GroupingContext:
    def __init__(
        self,
        case: CaseDB,
        *,
        settings: ScanSettings,
        content: ContentAccess,
        jobs: int,
        worker_init: tuple[Callable[..., Any], tuple[Any, ...]],
    ) -> None:
        self.case = case
        self.settings = settings
        self.content = content
        self.jobs = jobs
        self._worker_init = worker_init

    def rows(self, *columns: Any, where: Any = None, chunk: int = 5000) -> Iterator[Any]:
        """Final (done) items, in id order, a chunk at a time (flat memory)."""
        cols = columns or (item,)
        after = 0
        while True:
            stmt = select(*cols, item.c.id.label("_id")).where(item.c.state == DONE, item.c.id > after)
            if where is not None:
                stmt = stmt.where(where)
            with self.case.session() as s:
                batch = s.execute(stmt.order_by(item.c.id).limit(chunk)).all()
            if not batch:
                return
            yield from batch
            after = batch[-1]._id

    def duplicates(self) -> Iterator[list[int]]:
        """Ids of items sharing a SHA-256 (only the duplicated hashes are ever held in memory)."""
        from sqlalchemy import func

        with self.case.session() as s:
            dup = (
                select(item.c.sha256)
                .where(item.c.state == DONE, item.c.sha256.is_not(None))
                .group_by(item.c.sha256)
                .having(func.count() > 1)
                .subquery()
            )
            rows = s.execute(
                select(item.c.sha256, item.c.id)
                .where(item.c.state == DONE, item.c.sha256.in_(select(dup.c.sha256)))
                .order_by(item.c.sha256, item.c.id)
            )
            current: list[int] = []
            last = None
            for sha, item_id in rows:
                if sha != last and current:
                    yield current
                    current = []
                last = sha
                current.append(item_id)
            if current:
                yield current

    def item_rows(self, ids: Iterable[int]) -> list[Any]:
        wanted = sorted(set(ids))
        out: list[Any] = []
        with self.case.session() as s:
            for i in range(0, len(wanted), 500):
                out.extend(s.execute(select(item).where(item.c.id.in_(wanted[i : i + 500]))).all())
        return out

    def contents(
        self, ids: Iterable[int]
    ) -> Iterator[tuple[int, bytes | None, ContentUnavailableError | None]]:
        for row, data, problem in self.content.read_items(self.item_rows(ids)):
            yield row.id, data, problem

    def map_contents(
        self,
        fn: Callable[[list[tuple[int, bytes]]], list[tuple[int, Any]]],
        ids: Sequence[int],
        *,
        chunk: int = 8,
    ) -> Iterator[tuple[int, Any]]:
        """``fn`` over (id, bytes) chunks in the worker pool; unreadable items yield ``(id, None)``."""
        init, args = self._worker_init
        pool: WorkerPool[tuple[int, bytes], tuple[int, Any]] = WorkerPool(
            fn, jobs=self.jobs, on_crash=lambda t: (t[0], None), initializer=init, initargs=args
        )
        try:
            pending: list[tuple[int, bytes]] = []
            window = max(2, 3 * max(1, self.jobs))
            for item_id, data, _problem in self.contents(ids):
                if data is None:
                    yield item_id, None
                    continue
                pending.append((item_id, data))
                if len(pending) >= chunk:
                    pool.submit(pending)
                    pending = []
                while pool.in_flight >= window:
                    yield from pool.wait()
            pool.submit(pending)
            while pool.in_flight:
                yield from pool.wait()
        finally:
            pool.close()

    def map(
        self, fn: Callable[[list[T]], list[R]], tasks: Iterable[T], *, on_crash: Callable[[T], R]
    ) -> Iterator[R]:
        """``fn`` over tasks (one per chunk) in the worker pool, results as they finish."""
        init, args = self._worker_init
        pool: WorkerPool[T, R] = WorkerPool(
            fn, jobs=self.jobs, on_crash=on_crash, initializer=init, initargs=args
        )
        try:
            window = max(2, 2 * max(1, self.jobs))
            for t in tasks:
                pool.submit([t])
                while pool.in_flight >= window:
                    yield from pool.wait()
            while pool.in_flight:
                yield from pool.wait()
        finally:
            pool.close()


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
            self.parent.setdefault(min(ra, rb), min(ra, rb))

    def components(self) -> list[list[int]]:
        comps: dict[int, list[int]] = {}
        for x in list(self.parent):
            comps.setdefault(self.find(x), []).append(x)
        return [sorted(c) for c in comps.values() if len(c) > 1]
