"""The scan: a sequence of small, independent stages over a resumable work queue in ``case.db``.

Stages (IPED/Autopsy style, one module each in :mod:`takeback.triage.stages`): register sources →
enumerate (stat only) → process items in parallel (read once, then the per-item tasks of
:mod:`takeback.triage.tasks`) → match against the banks → expand archives into member items (which
join the queue) → verify archives unchanged → group → complete. Each stage records its progress in
the database, so re-running the same command after a crash or ``kill -9`` continues where the last
commit left it:

* an item is claimed (``attempts + 1``) just before it is handed to a worker and becomes final only
  when its result is committed, so a kill repeats at most the items in flight and loses none;
* results, bank matches and the custody entry sealing them commit in one transaction;
* enumeration and archive expansion are idempotent (keys are unique; ``INSERT OR IGNORE``).

Every state change of the case goes into its custody log (:mod:`takeback.evidence.custody`), signed
with the installation's key: scan start/resume/stop/completion with tool version, settings, examiner
and host, the source hashes, every batch of sealed item records, files that changed during the scan,
archives re-hashed after reading.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from takeback.triage.casedb import CaseDB, disk_full_error, is_disk_full
from takeback.triage.models import ScanSettings
from takeback.triage.stages import archives, complete, process, start
from takeback.triage.stages.complete import ScanSummary
from takeback.triage.stages.context import Progress, RunOptions, ScanContext
from takeback.triage.stages.process import CHUNK_FILES, COMMIT_EVERY_N, WINDOW_PER_JOB
from takeback.triage.stages.seal import batch_digest, items_digest, record_hash


class Scanner:
    """One run of a scan: start or resume, process, verify archives, group, complete."""

    def __init__(
        self, case: CaseDB, *, settings: ScanSettings, run: RunOptions, source_args: list[str] | None = None
    ) -> None:
        self.ctx = ScanContext(case, settings=settings, run=run)
        self.source_args = source_args

    @property
    def progress(self) -> Progress:
        return self.ctx.progress

    def run(self) -> ScanSummary:
        ctx = self.ctx
        try:
            resumed = start.start(ctx, self.source_args)
            start.enumerate_sources(ctx)
            process.process(ctx)
            archives.verify_archives(ctx)
            groups = complete.group(ctx)
            return complete.complete(ctx, resumed, groups)
        except (OperationalError, OSError) as exc:
            if is_disk_full(exc):
                complete.stopped(ctx, "disk_full")
                raise disk_full_error(ctx.case.folder) from None
            raise
        except KeyboardInterrupt:
            complete.stopped(ctx, "interrupted")
            raise


__all__ = [
    "CHUNK_FILES",
    "COMMIT_EVERY_N",
    "WINDOW_PER_JOB",
    "Progress",
    "RunOptions",
    "ScanSummary",
    "Scanner",
    "batch_digest",
    "items_digest",
    "record_hash",
]
