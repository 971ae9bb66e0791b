"""The scan: a sequence of small, independent tasks over a resumable work queue in ``case.db``.

Stages (IPED/Autopsy style): register sources → enumerate (stat only) → process items in parallel
(read once, fingerprint, provenance, nudity, video, known-file check) → match against the banks →
expand archives into member items (which join the queue) → verify archives unchanged → group →
complete. Each stage records its progress in the database, so re-running the same command after a
crash or ``kill -9`` continues where the last commit left it:

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

import hashlib
import os
import platform
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from takeback import __version__
from takeback.evidence.custody import canonical_json
from takeback.evidence.signing import Signer
from takeback.media import Limits
from takeback.triage import errors as codes
from takeback.triage import exclusion, sources, tasks
from takeback.triage.archives import ArchiveError, ArchiveLimits, ArchiveReader, Refused, Streamed, detect
from takeback.triage.casedb import CaseDB, disk_full_error, is_disk_full
from takeback.triage.content import ContentAccess, ContentUnavailableError
from takeback.triage.errors import TriageError
from takeback.triage.models import (
    DONE,
    KNOWN,
    PENDING,
    RESULT_COLUMNS,
    UNSEALED,
    ItemResult,
    ScanSettings,
    bank_match,
    item,
    known_list,
    now_iso,
    record_of,
    source,
)
from takeback.triage.pool import WorkerPool
from takeback.triage.tasks import BytesTask, FileTask, KnownSource, Task, WorkerOptions
from takeback.triage.tasks.read import open_readonly

#: Files per worker chunk, and the bytes after which a chunk is sent anyway.
CHUNK_FILES = 8
CHUNK_BYTES = 4 << 20
#: Chunks in flight per worker: enough to keep workers busy, few enough that a kill repeats little.
WINDOW_PER_JOB = 3
COMMIT_EVERY_S = 0.5
COMMIT_EVERY_N = 64
SEAL_BATCH = 2000


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


@dataclass
class ScanSummary:
    case_id: str
    items: int
    done: int
    known: int
    errors: int
    matched: int
    groups: int
    resumed: bool
    repeated: int  # items processed again because a previous run died with them in flight


def _crash_result(task: Task) -> ItemResult:
    return ItemResult.failed(
        task.item_id,
        codes.DECODER_CRASH,
        "A decoder crashed the worker on this item; it was skipped (its other records stand).",
    )


class Scanner:
    def __init__(
        self, case: CaseDB, *, settings: ScanSettings, run: RunOptions, source_args: list[str] | None = None
    ) -> None:
        self.case = case
        self.settings = settings
        self.run_opts = run
        self.source_args = source_args
        self.progress = Progress()
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
        self._commits = 0
        self._repeated = 0
        self._last_yielded = 0
        self._last_progress = 0.0

    # --- helpers -----------------------------------------------------------------------------------

    @property
    def actor(self) -> str:
        return self.run_opts.examiner

    def _log(self, s: Session, action: str, subject: str | None = None, **details: Any) -> None:
        self.case.custody(s, self.run_opts.signer).append(
            actor=self.actor, action=action, subject=subject, details=details
        )

    def _notify(self, force: bool = False) -> None:
        cb = self.run_opts.progress
        if cb is None:
            return
        t = time.monotonic()
        if force or t - self._last_progress > 0.1:
            self._last_progress = t
            cb(self.progress)

    def _environment(self) -> dict[str, Any]:
        return {
            "tool": "takeback",
            "version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "jobs": self.run_opts.jobs,
        }

    # --- run ---------------------------------------------------------------------------------------

    def run(self) -> ScanSummary:
        try:
            resumed = self._start()
            self._enumerate()
            self._process()
            self._verify_archives()
            groups = self._group()
            return self._complete(resumed, groups)
        except (OperationalError, OSError) as exc:
            if is_disk_full(exc):
                self._stopped("disk_full")
                raise disk_full_error(self.case.folder) from None
            raise
        except KeyboardInterrupt:
            self._stopped("interrupted")
            raise

    def _stopped(self, reason: str) -> None:
        try:
            with self.case.session() as s:
                pending = s.scalar(select(func.count()).select_from(item).where(item.c.state == PENDING)) or 0
                self._log(s, "scan.stopped", reason=reason, pending=int(pending))
                self.case.set_meta(s, "run_state", "stopped")
        except Exception:  # noqa: S110  (a full disk may refuse even this; the next run says so)
            pass

    def _start(self) -> bool:
        with self.case.session() as s:
            stored = self.case.get_meta(s, "settings")
            if stored is None:
                self._create(s)
                resumed = False
            else:
                resumed = True
                self._check_resume(s, ScanSettings.from_json(stored))
            specs = {(x["path"], x["sha256"]): exclusion.ListSpec(**x) for x in self.settings.exclusion_lists}
            found = []
            for r in s.execute(select(known_list).order_by(known_list.c.id)):
                spec = specs.get((r.path, r.sha256))
                if spec is not None:
                    found.append(exclusion.sources_for(r.id, spec, str(self.case.db_path)))
            self.known_sources = tuple(found)
        return resumed

    def _create(self, s: Session) -> None:
        if not self.source_args:
            raise TriageError("Give at least one folder, archive or file to scan.", code=codes.NO_SOURCES)
        specs = sources.describe_sources(self.source_args)
        settings_json = self.settings.to_json()
        self.case.set_meta(s, "settings", settings_json)
        self.case.set_meta(s, "created_at", now_iso())
        self.case.set_meta(s, "examiner", self.actor)
        self.case.set_meta(s, "runs", 1)
        self.case.set_meta(s, "run_state", "running")
        self._log(
            s,
            "case.created",
            subject=f"case:{self.case.case_id}",
            case_id=self.case.case_id,
            settings=settings_json,
            environment=self._environment(),
        )
        for n, spec in enumerate(specs, start=1):
            details: dict[str, Any] = {"source": n, "path": spec.arg, "kind": spec.kind}
            sha, size = None, None
            if spec.kind == "file":
                sha, size = _hash_file(spec.raw)
                kind = "archive" if _is_archive(spec.raw) else "file"
                details.update(kind=kind, sha256=sha, size=size)
            else:
                kind = spec.kind
            s.execute(
                insert(source).values(
                    id=n,
                    arg=spec.arg,
                    raw=spec.raw,
                    kind=kind,
                    size=size,
                    sha256_before=sha,
                    enumerated=False,
                )
            )
            self._log(s, "source.registered", subject=f"source:{n}", **details)
        for lst in self.settings.exclusion_lists:
            spec_l = exclusion.ListSpec(**lst)
            known = exclusion.load(s, spec_l, case_db_path=str(self.case.db_path))
            entries = s.scalar(select(known_list.c.entries).where(known_list.c.id == known.list_id))
            self._log(
                s,
                "exclusions.loaded",
                name=spec_l.name,
                format=spec_l.format,
                sha256=spec_l.sha256,
                entries=int(entries or 0),
            )
        self._log(s, "scan.started", run=1, environment=self._environment())

    def _check_resume(self, s: Session, stored: ScanSettings) -> None:
        diff = stored.differences(self.settings)
        if diff:
            raise TriageError(
                f"This case was started with other settings ({', '.join(diff)}); a resumed scan must compute "
                "the same things. Use the original options, or a new --case folder.",
                code=codes.CASE_MISMATCH,
            )
        if self.source_args:
            given = [spec.raw for spec in sources.describe_sources(self.source_args)]
            recorded = [bytes(r[0]) for r in s.execute(select(source.c.raw).order_by(source.c.id))]
            if given != recorded:
                raise TriageError(
                    "This case was started with other sources. Re-run it with the same sources in the same "
                    "order (or none: the recorded ones are used), or scan into a new --case folder.",
                    code=codes.CASE_MISMATCH,
                )
        previous = self.case.get_meta(s, "run_state", "running")
        runs = int(self.case.get_meta(s, "runs", 1)) + 1
        in_flight = s.scalar(
            select(func.count()).select_from(item).where(item.c.state == PENDING, item.c.attempts > 0)
        )
        self._repeated = int(in_flight or 0)
        self.case.set_meta(s, "runs", runs)
        self.case.set_meta(s, "run_state", "running")
        self._log(
            s,
            "scan.resumed",
            run=runs,
            previous_run_ended="unexpectedly" if previous == "running" else previous,
            in_flight_items=self._repeated,
            environment=self._environment(),
        )

    # --- enumeration -------------------------------------------------------------------------------

    def _enumerate(self) -> None:
        self.progress.phase = "listing"
        with self.case.session() as s:
            todo = s.execute(
                select(source.c.id).where(source.c.enumerated.is_(False)).order_by(source.c.id)
            ).all()
        for (sid,) in todo:

            def seen(n: int, size: int) -> None:
                self.progress.files_total += n
                self.progress.bytes_total += size
                self._notify()

            files, size = sources.enumerate_source(self.case.session, sid, on_batch=seen)
            with self.case.session() as s:
                self._log(s, "source.enumerated", subject=f"source:{sid}", files=files, bytes=size)
        self._refresh_totals()

    def _refresh_totals(self) -> None:
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
        self._notify(force=True)

    # --- processing --------------------------------------------------------------------------------

    def _worker_options(self) -> WorkerOptions:
        return WorkerOptions(
            limits=self.limits,
            nudity=self.settings.nudity,
            watermarks=self.settings.watermarks,
            video=self.settings.video,
            known=self.known_sources,
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

    def _tasks(self) -> Iterator[Task | ItemResult]:
        """Pending items in id order as tasks for workers, or as finished results for archive members
        the main process had to refuse or stream itself (it owns the archives and reads each one in a
        single pass, in archive order). New archive members join at the end of the id order."""
        after = self._last_yielded
        while True:
            with self.case.session() as s:
                rows = s.execute(
                    select(*self._ROW_COLUMNS)
                    .where(item.c.state == PENDING, item.c.id > after)
                    .order_by(item.c.id)
                    .limit(512)
                ).all()
            if not rows:
                return
            for row in rows:
                if row.parent_id is None:
                    after = self._last_yielded = row.id
                    yield FileTask(row.id, bytes(row.raw_path), row.size, row.mtime_ns)
                    continue
                # Every pending member of this archive, in one pass (ids of one archive are contiguous).
                with self.case.session() as s:
                    members = s.execute(
                        select(*self._ROW_COLUMNS)
                        .where(
                            item.c.state == PENDING, item.c.parent_id == row.parent_id, item.c.id >= row.id
                        )
                        .order_by(item.c.member_index)
                    ).all()
                archive = _OpenArchive(self, row.parent_id)
                try:
                    yield from archive.tasks(list(members))
                finally:
                    archive.close()
                after = self._last_yielded = max(m.id for m in members)
                break  # the page may hold members already handled: fetch the next page afresh

    def _process(self) -> None:
        self.progress.phase = "scanning"
        self._refresh_totals()
        self.progress.started = time.monotonic()  # the rate and ETA are of the processing itself
        self.progress.files_before = self.progress.files_done
        self.progress.bytes_before = self.progress.bytes_done
        tasks.init_worker(self._worker_options())  # the main process streams large archive members
        jobs = self.run_opts.jobs
        window = max(2, WINDOW_PER_JOB * max(1, jobs))
        pool: WorkerPool[Task, ItemResult] = WorkerPool(
            tasks.run_chunk,
            jobs=jobs,
            on_crash=_crash_result,
            initializer=tasks.init_worker,
            initargs=(self._worker_options(),),
        )
        buffer: list[ItemResult] = []
        last_commit = time.monotonic()
        self._last_yielded = 0
        producer = self._tasks()
        exhausted = False
        interrupted = False

        def due() -> bool:
            return bool(buffer) and (
                len(buffer) >= COMMIT_EVERY_N or time.monotonic() - last_commit >= COMMIT_EVERY_S
            )

        try:
            while True:
                while not exhausted and pool.in_flight < window:
                    chunk, inline = self._next_chunk(producer)
                    if inline:
                        self._claim([r.id for r in inline])
                        buffer.extend(inline)
                    if chunk:
                        self._claim([t.item_id for t in chunk])
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
                    added = self._commit(results)
                    last_commit = time.monotonic()
                    if added and exhausted:
                        exhausted = False
                        producer = self._tasks()
                if exhausted and not pool.in_flight and not buffer:
                    if not self._expand_remaining():
                        break
                    exhausted = False
                    producer = self._tasks()
        except KeyboardInterrupt:
            interrupted = True
            if buffer:
                self._commit(buffer)  # finished work is kept; only what was in flight repeats
            raise
        finally:
            producer.close()  # type: ignore[attr-defined]
            pool.close(wait=not interrupted)
        self._seal_all()

    def _next_chunk(self, producer: Iterator[Task | ItemResult]) -> tuple[list[Task], list[ItemResult]]:
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

    def _claim(self, ids: list[int]) -> None:
        with self.case.session() as s:
            s.execute(update(item).where(item.c.id.in_(ids)).values(attempts=item.c.attempts + 1))

    def _commit(self, results: list[ItemResult]) -> bool:
        """Write results, their bank matches and custody events in one transaction; expand archives."""
        rows = [{"id": r.id, **r.columns()} for r in results]
        matches = self._match(results)
        archives = [r.id for r in results if r.archive and r.state != KNOWN]
        with self.case.session() as s:
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
                    row["warnings"] = [*listed[row["id"]], *(row.get("warnings") or [])]
            # One statement for the batch (compiled once): every result column bound; a result without
            # a size keeps the size seen when the item was listed.
            s.execute(_RESULT_UPDATE, [_bound(row) for row in rows])
            if archives:
                s.execute(update(item).where(item.c.id.in_(archives)).values(expanded=False))
            if matches:
                s.execute(insert(bank_match), matches)
            for r in results:
                if r.changed:
                    self._log(
                        s, "item.changed", subject=f"item:{r.id}", **_int_only(r.changed), sha256=r.sha256
                    )
            self._seal(s)
        self._commits += 1
        p = self.progress
        for r in results:
            p.files_done += 1
            p.bytes_done += int(r.size or 0)
            p.errors += 1 if r.error else 0
            p.known += 1 if r.state == KNOWN else 0
        self._notify()
        added = False
        for aid in archives:
            added = self._expand(aid) or added
        return added

    def _match(self, results: list[ItemResult]) -> list[dict[str, Any]]:
        matcher = self.run_opts.matcher
        if matcher is None or not self.settings.match_banks:
            return []
        from takeback.matching import MatchQuery

        queries, owners = [], []
        for r in results:
            if r.state == KNOWN or not (r.sha256 or r.pdq):
                continue
            dihedral = r.pdq_dihedral
            queries.append(
                MatchQuery(
                    label=str(r.id),
                    pdq=bytes.fromhex(r.pdq) if r.pdq else None,
                    pdq_quality=r.pdq_quality,
                    pdq_dihedral=tuple(bytes.fromhex(h) for h in dihedral.split()) if dihedral else None,
                    md5=bytes.fromhex(r.md5) if r.md5 else None,
                    sha256=bytes.fromhex(r.sha256) if r.sha256 else None,
                )
            )
            owners.append(r.id)
        if not queries:
            return []
        out = []
        for item_id, res in zip(owners, matcher.match(queries), strict=True):
            for m in res.matches:
                out.append(
                    {
                        "item_id": item_id,
                        "bank": m.bank,
                        "content_id": m.content_id,
                        "signal_type": m.signal_type,
                        "distance": m.distance,
                        "threshold": m.threshold,
                        "orientation": m.orientation,
                        "allow_list": m.allow_list,
                        "suppressed": m.suppressed,
                        "explanation": m.explain(),
                    }
                )
        return out

    # --- sealing -----------------------------------------------------------------------------------

    def _seal(self, s: Session) -> int:
        """Hash every final, unsealed item record and seal the batch with one custody entry."""
        sealed = 0
        while True:
            rows = s.execute(select(item).where(UNSEALED).order_by(item.c.id).limit(SEAL_BATCH)).all()
            if not rows:
                return sealed
            hashes = [(r.id, record_hash(r)) for r in rows]
            digest = batch_digest(hashes)
            entry = self.case.custody(s, self.run_opts.signer).append(
                actor=self.actor,
                action="items.sealed",
                details={
                    "first": hashes[0][0],
                    "last": hashes[-1][0],
                    "count": len(hashes),
                    "digest": digest,
                },
            )
            s.execute(
                update(item)
                .where(item.c.id == bindparam("b_id"))
                .values(record_sha256=bindparam("b_h"), sealed_seq=entry.seq),
                [{"b_id": i, "b_h": h} for i, h in hashes],
            )
            sealed += len(hashes)

    def _seal_all(self) -> None:
        with self.case.session() as s:
            self._seal(s)

    # --- archives ----------------------------------------------------------------------------------

    def _expand(self, item_id: int) -> bool:
        """List an archive's members into the queue (one transaction: all or nothing)."""
        with self.case.session() as s:
            row = s.execute(select(item).where(item.c.id == item_id)).one()
            if row.expanded:
                return False
            if row.depth >= self.settings.archive_max_depth:
                warn = {
                    "code": codes.ARCHIVE_TOO_DEEP,
                    "message": f"An archive nested {row.depth} levels deep (the limit is "
                    f"{self.settings.archive_max_depth}); its entries were not read.",
                }
                self._add_warning(s, row, warn)
                s.execute(update(item).where(item.c.id == item_id).values(expanded=True))
                return False
            try:
                with self._reader_for(row) as reader:
                    members = reader.members()
                    stopped = reader.stopped
            except (_ArchiveUnavailableError, ArchiveError) as exc:
                self._add_warning(s, row, {"code": exc.code, "message": exc.message})
                s.execute(update(item).where(item.c.id == item_id).values(expanded=True))
                return False
            n = sources.add_members(s, row, members, depth_limit=self.settings.archive_max_depth)
            if stopped is not None:  # the entries before the damage stand; the archive says where it ended
                self._add_warning(s, row, {"code": stopped.code, "message": stopped.message})
            self._log(s, "archive.listed", subject=f"item:{item_id}", entries=n, sha256=row.sha256)
        self.progress.files_total += n
        self.progress.bytes_total += sum(m.size or 0 for m in members if m.kind == "file")
        return n > 0

    def _expand_remaining(self) -> bool:
        with self.case.session() as s:
            ids = [
                r[0]
                for r in s.execute(select(item.c.id).where(item.c.expanded.is_(False)).order_by(item.c.id))
            ]
        added = False
        for i in ids:
            added = self._expand(i) or added
        return added

    def _add_warning(self, s: Session, row: Any, warn: dict[str, str]) -> None:
        """Archive problems found after an item was sealed go on the archive's record, resealed."""
        warnings = [*(row.warnings or []), warn]
        s.execute(
            update(item)
            .where(item.c.id == row.id)
            .values(
                warnings=warnings,
                error_code=row.error_code or warn["code"],
                error_message=row.error_message or warn["message"],
                record_sha256=None,
                sealed_seq=None,
            )
        )
        self._log(
            s,
            "item.amended",
            subject=f"item:{row.id}",
            code=warn["code"],
            previous_record=row.record_sha256,
            previous_seq=row.sealed_seq,
        )
        self.progress.errors += 0 if row.error_code else 1

    def _reader_for(self, row: Any) -> ArchiveReader:
        try:
            return self.content.reader_for(row)
        except ContentUnavailableError as exc:
            raise _ArchiveUnavailableError(exc.code, exc.message) from None

    def _verify_archives(self) -> None:
        """Hash every archive file again now that its entries are read: it must not have changed."""
        with self.case.session() as s:
            rows = s.execute(
                select(item.c.id, item.c.raw_path, item.c.sha256, item.c.source_id)
                .where(item.c.expanded.is_(True), item.c.parent_id.is_(None), item.c.sha256.is_not(None))
                .order_by(item.c.id)
            ).all()
            verified = {
                d.get("item")
                for d in (
                    e.details
                    for e in self.case.custody(s, self.run_opts.signer).store.entries()
                    if e.action == "archive.verified"
                )
            }
        for r in rows:
            if r.id in verified:
                continue
            try:
                after, _ = _hash_file(bytes(r.raw_path))
            except OSError:
                after = None
            same = after == r.sha256
            with self.case.session() as s:
                self._log(
                    s,
                    "archive.verified",
                    subject=f"item:{r.id}",
                    item=r.id,
                    sha256_before=r.sha256,
                    sha256_after=after,
                    unchanged=same,
                )
                src = s.execute(select(source).where(source.c.id == r.source_id)).one()
                if src.kind == "archive" and bytes(src.raw) == bytes(r.raw_path):
                    s.execute(update(source).where(source.c.id == src.id).values(sha256_after=after))
                if not same:
                    row = s.execute(select(item).where(item.c.id == r.id)).one()
                    self._add_warning(
                        s,
                        row,
                        {
                            "code": codes.ARCHIVE_CHANGED,
                            "message": "The archive's SHA-256 after reading differs from before: it changed "
                            "during the scan (or could not be read again).",
                        },
                    )
                    self._seal(s)

    # --- grouping and completion --------------------------------------------------------------------

    def _group(self) -> int:
        from takeback.triage.grouping import run_grouping

        self.progress.phase = "grouping"
        self._notify(force=True)
        return run_grouping(
            self.case,
            settings=self.settings,
            signer=self.run_opts.signer,
            actor=self.actor,
            jobs=self.run_opts.jobs,
        )

    def _complete(self, resumed: bool, groups: int) -> ScanSummary:
        with self.case.session() as s:
            counts: dict[str, int] = dict(
                s.execute(select(item.c.state, func.count()).group_by(item.c.state)).all()
            )
            errors = int(s.scalar(select(func.count()).where(item.c.error_code.is_not(None))) or 0)
            matched = int(
                s.scalar(
                    select(func.count(func.distinct(bank_match.c.item_id))).where(
                        and_(bank_match.c.allow_list.is_(False), bank_match.c.suppressed.is_(False))
                    )
                )
                or 0
            )
            total = int(sum(counts.values()))
            self._log(
                s,
                "scan.completed",
                items=total,
                done=int(counts.get(DONE, 0)),
                known=int(counts.get(KNOWN, 0)),
                errors=errors,
                bank_matched_items=matched,
                groups=groups,
                items_digest=items_digest(s),
            )
            self.case.set_meta(s, "run_state", "completed")
            self.case.set_meta(s, "completed_at", now_iso())
        self.progress.phase = "done"
        self._refresh_totals()
        return ScanSummary(
            case_id=self.case.case_id,
            items=total,
            done=int(counts.get(DONE, 0)),
            known=int(counts.get(KNOWN, 0)),
            errors=errors,
            matched=matched,
            groups=groups,
            resumed=resumed,
            repeated=self._repeated,
        )


# --- archive reading in the main process ---------------------------------------------------------------


class _ArchiveUnavailableError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _OpenArchive:
    """The archive whose members are being fed to workers (one at a time, read in archive order)."""

    def __init__(self, scanner: Scanner, item_id: int) -> None:
        self.scanner = scanner
        self.item_id = item_id
        self.reader: ArchiveReader | None = None
        self.problem: _ArchiveUnavailableError | None = None
        with scanner.case.session() as s:
            self.row = s.execute(select(item).where(item.c.id == item_id)).one()
        try:
            self.reader = scanner._reader_for(self.row)
        except _ArchiveUnavailableError as exc:
            self.problem = exc

    def tasks(self, rows: list[Any]) -> Iterator[Task | ItemResult]:
        if self.reader is None:
            assert self.problem is not None
            for r in rows:
                yield _error_result(r.id, self.problem.code, self.problem.message)
            return
        by_index = {r.member_index: r for r in rows}
        seen: set[int] = set()
        read = self.reader.read(list(by_index))  # lazily: one member's bytes in memory at a time
        while True:
            try:
                index, data = next(read)
            except StopIteration:
                break
            except ArchiveError as exc:
                data, index = Refused(exc.code, exc.message), -1
            if index < 0:
                assert isinstance(data, Refused)
                for r in rows:
                    if r.member_index not in seen:
                        seen.add(r.member_index)
                        yield _error_result(r.id, data.code, data.message)
                return
            r = by_index[index]
            seen.add(index)
            if isinstance(data, bytes):
                yield BytesTask(r.id, data, r.path)
            elif isinstance(data, Streamed):
                yield tasks.analyse_streamed(r.id, data, name=r.path)
            else:
                yield _error_result(r.id, data.code, data.message)
        for r in rows:
            if r.member_index not in seen:
                yield _error_result(
                    r.id, codes.ARCHIVE_CORRUPT, "The entry was listed but could not be found when read."
                )

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


# --- small helpers ---------------------------------------------------------------------------------------


_error_result = ItemResult.failed


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


def _bound(row: dict[str, Any]) -> dict[str, Any]:
    out = {f"b_{c}": row.get(c) for c in RESULT_COLUMNS}
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


def record_hash(row: Any) -> str:
    return hashlib.sha256(canonical_json(record_of(row))).hexdigest()


def batch_digest(hashes: list[tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for i, rh in hashes:
        h.update(f"{i}:{rh}\n".encode())
    return h.hexdigest()


def items_digest(s: Session) -> str:
    """One hash over every item's record hash, in id order (the whole case's item table)."""
    h = hashlib.sha256()
    for i, rh in s.execute(select(item.c.id, item.c.record_sha256).order_by(item.c.id)):
        h.update(f"{i}:{rh}\n".encode())
    return h.hexdigest()


def _hash_file(raw: bytes) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    fd = open_readonly(raw)
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return h.hexdigest(), size


def _is_archive(raw: bytes) -> bool:
    try:
        with open(raw, "rb") as fh:
            return detect(fh.read(4096)) is not None
    except OSError:
        return False


__all__ = ["Progress", "RunOptions", "ScanSummary", "Scanner", "batch_digest", "items_digest", "record_hash"]
