"""Audit rows for matched lookups, written by group commit.

A matched lookup must be in the audit log, and a response is an acknowledgement, so the row is
committed *before* the response leaves. To keep that off the per-request cost, requests do not each
open a transaction: they hand their row to one writer task and wait; the writer commits everything
that arrived while the previous commit ran in one transaction. Under load one commit serves
hundreds of requests; when idle a request waits for one small commit (about a millisecond). If the
database cannot take the rows, every waiting request fails with ``audit_unavailable`` (503) rather
than answering without a trace.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session

from takeback.banks.hits import record_hits
from takeback.clock import utcnow
from takeback.store import Database, record_audit
from takeback.web.errors import ApiError

log = logging.getLogger("takeback.web.audit")

MAX_BATCH = 1_000


@dataclass(slots=True)
class _Pending:
    event: dict[str, Any]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditWriter:
    """One per worker process; started and closed by the app's lifespan."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="takeback-audit-writer")

    async def record(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Return once the row is committed; raise ``audit_unavailable`` if it could not be."""
        if self._closing or self._task is None:
            raise ApiError(
                "The service is shutting down; retry the request.", code="audit_unavailable", status=503
            )
        item = _Pending(
            {
                "actor": actor,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "details": details,
            }
        )
        self._queue.append(item)
        self._wake.set()
        await asyncio.shield(item.done)

    def _write(self, events: list[dict[str, Any]]) -> None:
        def work(s: Session) -> None:
            hit: list[int] = []
            for ev in events:
                record_audit(s, **ev)
                if ev["action"] == "lookup.match":
                    # [query, bank id, content id, signal type, distance, effective]: effective only
                    hit.extend(int(m[2]) for m in ev["details"]["matches"] if m[5])
            record_hits(s, hit, day=utcnow().date())

        self._db.run(work)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await anyio.to_thread.run_sync(self._write, [p.event for p in batch])
                except Exception as exc:
                    log.error("could not write %d audit rows: %s", len(batch), type(exc).__name__)
                    for p in batch:
                        if not p.done.done():
                            p.done.set_exception(
                                ApiError(
                                    "The audit log could not be written, so the result is withheld; "
                                    "retry shortly.",
                                    code="audit_unavailable",
                                    status=503,
                                )
                            )
                else:
                    self.batches += 1
                    self.rows += len(batch)
                    for p in batch:
                        if not p.done.done():
                            p.done.set_result(None)
            if self._closing:
                return

    async def close(self) -> None:
        """Write what is queued, then stop (graceful shutdown: nothing acknowledged is dropped)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
