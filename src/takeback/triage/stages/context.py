"""What every stage of one scan run shares: the case, its settings, who runs it, and its progress."""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from takeback import __version__
from takeback.evidence.signing import Signer
from takeback.media import Limits
from takeback.triage.archives import ArchiveLimits
from takeback.triage.casedb import CaseDB
from takeback.triage.content import ContentAccess
from takeback.triage.models import KNOWN, PENDING, ScanSettings, item
from takeback.triage.tasks import KnownSource


@dataclass
class Progress:
    """What a progress display shows; updated by the scan as it goes."""

    phase: str = "starting"
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    errors: int = 0
    known: int = 0
    started: float = field(default_factory=time.monotonic)
    #: what was already done when this run began (a resumed scan's rate counts only this run's work)
    files_before: int = 0
    bytes_before: int = 0


@dataclass
class RunOptions:
    """Per run (not part of the case's settings): who, how many workers, where progress goes."""

    signer: Signer
    examiner: str
    jobs: int = 1
    progress: Callable[[Progress], None] | None = None
    #: ``match(queries) -> results`` against the installation's banks (``takeback.matching``)
    matcher: Any = None


class ScanContext:
    """One run of a scan over one case: the state its stages share (each stage is a module of plain
    functions taking this)."""

    def __init__(self, case: CaseDB, *, settings: ScanSettings, run: RunOptions) -> None:
        self.case = case
        self.settings = settings
        self.run_opts = run
        self.progress = Progress()
        #: the known-file lists the workers check (from the case, at start)
        self.known_sources: tuple[KnownSource, ...] = ()
        self.limits = Limits(max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_file_bytes)
        self.archive_limits = ArchiveLimits(
            max_depth=settings.archive_max_depth,
            max_ratio=settings.archive_max_ratio,
            ratio_floor=settings.archive_ratio_floor,
            max_member_bytes=settings.archive_max_member_bytes,
            max_total_bytes=settings.archive_max_total_bytes,
            max_members=settings.archive_max_members,
            in_memory_bytes=settings.max_file_bytes,
        )
        self.content = ContentAccess(case, self.archive_limits)
        #: items processed again because a previous run died with them in flight
        self.repeated = 0
        self._last_progress = 0.0

    @property
    def actor(self) -> str:
        return self.run_opts.examiner

    def log(self, s: Session, action: str, subject: str | None = None, **details: Any) -> None:
        """One entry in the case's custody log, signed, in the caller's transaction."""
        self.case.custody(s, self.run_opts.signer).append(
            actor=self.actor, action=action, subject=subject, details=details
        )

    def notify(self, force: bool = False) -> None:
        """Tell the progress display (at most every 0.1 s unless forced)."""
        cb = self.run_opts.progress
        if cb is None:
            return
        t = time.monotonic()
        if force or t - self._last_progress > 0.1:
            self._last_progress = t
            cb(self.progress)

    def environment(self) -> dict[str, Any]:
        return {
            "tool": "takeback",
            "version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "jobs": self.run_opts.jobs,
        }

    def refresh_totals(self) -> None:
        """Progress counts read again from the queue (after listing, on resume, at the end)."""
        with self.case.session() as s:
            total, size = s.execute(
                select(func.count(), func.coalesce(func.sum(item.c.size), 0)).select_from(item)
            ).one()
            done, dsize = s.execute(
                select(func.count(), func.coalesce(func.sum(item.c.size), 0)).where(item.c.state != PENDING)
            ).one()
            errors = s.scalar(select(func.count()).where(item.c.error_code.is_not(None)))
            known = s.scalar(select(func.count()).where(item.c.state == KNOWN))
        p = self.progress
        p.files_total, p.bytes_total, p.files_done, p.bytes_done = (
            int(total),
            int(size),
            int(done),
            int(dsize),
        )
        p.errors, p.known = int(errors or 0), int(known or 0)
        self.notify(force=True)
