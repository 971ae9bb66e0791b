"""Process, commit: pending items go to the worker pool in small chunks, and their results come
back to be committed — results, bank matches and the custody entry sealing them in one transaction.

An item is claimed (``attempts + 1``) just before it goes to a worker and becomes final only in the
transaction that writes its result, so ``kill -9`` repeats at most the items in flight (at most
``WINDOW_PER_JOB`` chunks of ``CHUNK_FILES`` per worker, plus one commit buffer of
``COMMIT_EVERY_N``) and loses none. A committed archive lists its members into the queue, which the
producer then reaches (new ids come after the old).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from takeback.triage import errors as codes
from takeback.triage import tasks
from takeback.triage.models import KNOWN, PENDING, RESULT_COLUMNS, ItemResult, bank_match, item
from takeback.triage.pool import WorkerPool
from takeback.triage.stages import archives
from takeback.triage.stages.context import ScanContext
from takeback.triage.stages.match import match
from takeback.triage.stages.seal import seal, seal_all
from takeback.triage.tasks import BytesTask, FileTask, Task, WorkerOptions

#: Files per worker chunk, and the bytes after which a chunk is sent anyway.
CHUNK_FILES = 8
CHUNK_BYTES = 4 << 20
#: Chunks in flight per worker: enough to keep workers busy, few enough that a kill repeats little.
WINDOW_PER_JOB = 3
COMMIT_EVERY_S = 0.5
COMMIT_EVERY_N = 64


def worker_options(ctx: ScanContext) -> WorkerOptions:
    return WorkerOptions(
        limits=ctx.limits,
        nudity=ctx.settings.nudity,
        watermarks=ctx.settings.watermarks,
        video=ctx.settings.video,
        known=ctx.known_sources,
    )


def _crash_result(task: Task) -> ItemResult:
    return ItemResult.failed(
        task.item_id,
        codes.DECODER_CRASH,
        "A decoder crashed the worker on this item; it was skipped (its other records stand).",
    )


_ROW_COLUMNS = (
    item.c.id,
    item.c.parent_id,
    item.c.member_index,
    item.c.raw_path,
    item.c.size,
    item.c.mtime_ns,
    item.c.path,
)


class _Queue:
    """The pending items, read from ``case.db`` a page at a time; remembers how far it has handed
    items out, so a fresh producer (after archives added members) starts after them."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.last_yielded = 0

    def tasks(self) -> Iterator[Task | ItemResult]:
        """Pending items in id order as tasks for workers, or as finished results for archive members
        the main process had to refuse or stream itself (it owns the archives and reads each one in a
        single pass, in archive order). New archive members join at the end of the id order."""
        ctx = self.ctx
        after = self.last_yielded
        while True:
            with ctx.case.session() as s:
                rows = s.execute(
                    select(*_ROW_COLUMNS)
                    .where(item.c.state == PENDING, item.c.id > after)
                    .order_by(item.c.id)
                    .limit(512)
                ).all()
            if not rows:
                return
            for row in rows:
                if row.parent_id is None:
                    after = self.last_yielded = row.id
                    yield FileTask(row.id, bytes(row.raw_path), row.size, row.mtime_ns)
                    continue
                # Every pending member of this archive, in one pass (ids of one archive are contiguous).
                with ctx.case.session() as s:
                    members = s.execute(
                        select(*_ROW_COLUMNS)
                        .where(
                            item.c.state == PENDING, item.c.parent_id == row.parent_id, item.c.id >= row.id
                        )
                        .order_by(item.c.member_index)
                    ).all()
                archive = archives.OpenArchive(ctx, row.parent_id)
                try:
                    yield from archive.tasks(list(members))
                finally:
                    archive.close()
                after = self.last_yielded = max(m.id for m in members)
                break  # the page may hold members already handled: fetch the next page afresh


def process(ctx: ScanContext) -> None:
    """Every pending item processed and committed (archive members included, as they are listed)."""
    ctx.progress.phase = "scanning"
    ctx.refresh_totals()
    ctx.progress.started = time.monotonic()  # the rate and ETA are of the processing itself
    ctx.progress.files_before = ctx.progress.files_done
    ctx.progress.bytes_before = ctx.progress.bytes_done
    tasks.init_worker(worker_options(ctx))  # the main process streams large archive members
    jobs = ctx.run_opts.jobs
    window = max(2, WINDOW_PER_JOB * max(1, jobs))
    pool: WorkerPool[Task, ItemResult] = WorkerPool(
        tasks.run_chunk,
        jobs=jobs,
        on_crash=_crash_result,
        initializer=tasks.init_worker,
        initargs=(worker_options(ctx),),
    )
    buffer: list[ItemResult] = []
    last_commit = time.monotonic()
    queue = _Queue(ctx)
    producer = queue.tasks()
    exhausted = False
    interrupted = False

    def due() -> bool:
        return bool(buffer) and (
            len(buffer) >= COMMIT_EVERY_N or time.monotonic() - last_commit >= COMMIT_EVERY_S
        )

    try:
        while True:
            while not exhausted and pool.in_flight < window:
                chunk, inline = _next_chunk(producer)
                if inline:
                    _claim(ctx, [r.id for r in inline])
                    buffer.extend(inline)
                if chunk:
                    _claim(ctx, [t.item_id for t in chunk])
                    pool.submit(chunk)
                if not chunk and not inline:
                    exhausted = True
                if inline and due():
                    # Results the main process made itself (refused archive members) never wait
                    # for the rest of their archive: a kill must not lose them.
                    break
            if pool.in_flight and not due():
                buffer.extend(pool.wait(timeout=COMMIT_EVERY_S))
            if buffer and (due() or not pool.in_flight):
                results, buffer = buffer, []
                added = commit(ctx, results)
                last_commit = time.monotonic()
                if added and exhausted:
                    exhausted = False
                    producer = queue.tasks()
            if exhausted and not pool.in_flight and not buffer:
                if not archives.expand_remaining(ctx):
                    break
                exhausted = False
                producer = queue.tasks()
    except KeyboardInterrupt:
        interrupted = True
        if buffer:
            commit(ctx, buffer)  # finished work is kept; only what was in flight repeats
        raise
    finally:
        producer.close()  # type: ignore[attr-defined]
        pool.close(wait=not interrupted)
    seal_all(ctx)


def _next_chunk(producer: Iterator[Task | ItemResult]) -> tuple[list[Task], list[ItemResult]]:
    chunk: list[Task] = []
    inline: list[ItemResult] = []
    size = 0
    for t in producer:
        if isinstance(t, ItemResult):
            inline.append(t)
            if len(inline) >= CHUNK_FILES:
                break
            continue
        chunk.append(t)
        size += len(t.data) if isinstance(t, BytesTask) else (t.size or 0)
        if len(chunk) >= CHUNK_FILES or size >= CHUNK_BYTES:
            break
    return chunk, inline


def _claim(ctx: ScanContext, ids: list[int]) -> None:
    with ctx.case.session() as s:
        s.execute(update(item).where(item.c.id.in_(ids)).values(attempts=item.c.attempts + 1))


#: One statement for a batch of results (compiled once): every result column bound; a result without
#: a size keeps the size seen when the item was listed.
_RESULT_UPDATE = (
    update(item)
    .where(item.c.id == bindparam("b_id"))
    .values(
        {
            **{c: bindparam(f"b_{c}", type_=item.c[c].type) for c in RESULT_COLUMNS if c != "size"},
            "size": func.coalesce(bindparam("b_size", type_=item.c.size.type), item.c.size),
        }
    )
)


def commit(ctx: ScanContext, results: list[ItemResult]) -> bool:
    """Write results, their bank matches and custody events in one transaction; expand archives.
    Returns whether archives added items to the queue."""
    rows = [{"id": r.id, **r.columns()} for r in results]
    matches = match(ctx, results)
    expand = [r.id for r in results if r.archive and r.state != KNOWN]
    with ctx.case.session() as s:
        # Warnings found while listing (an unsafe archive path) stay beside the worker's own.
        listed = dict(
            s.execute(
                select(item.c.id, item.c.warnings).where(
                    item.c.id.in_([r["id"] for r in rows]), item.c.warnings.is_not(None)
                )
            ).all()
        )
        for row in rows:
            if listed.get(row["id"]):
                row["warnings"] = [*listed[row["id"]], *(row["warnings"] or [])]
        s.execute(_RESULT_UPDATE, [_bound(row) for row in rows])
        if expand:
            s.execute(update(item).where(item.c.id.in_(expand)).values(expanded=False))
        if matches:
            s.execute(insert(bank_match), matches)
        for r in results:
            if r.changed:
                ctx.log(s, "item.changed", subject=f"item:{r.id}", **_int_only(r.changed), sha256=r.sha256)
        seal(ctx, s)
    p = ctx.progress
    for r in results:
        p.files_done += 1
        p.bytes_done += int(r.size or 0)
        p.errors += 1 if r.error else 0
        p.known += 1 if r.state == KNOWN else 0
    ctx.notify()
    added = False
    for aid in expand:
        added = archives.expand(ctx, aid) or added
    return added


def _bound(row: dict[str, Any]) -> dict[str, Any]:
    out = {f"b_{c}": row[c] for c in RESULT_COLUMNS}
    out["b_id"] = row["id"]
    return out


def _int_only(d: dict[str, Any]) -> dict[str, Any]:
    """Custody details allow no floats."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _int_only(v)
        elif isinstance(v, float):
            out[k] = str(v)
        else:
            out[k] = v
    return out
