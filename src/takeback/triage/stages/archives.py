"""Archives: an archive item's members are listed into the queue (one transaction: all or nothing)
and read by the main process in one pass, in archive order, to feed the workers; when the queue is
done every archive file is hashed again (it must not have changed). A problem found after the
archive's record was sealed is added to that record, which is resealed (``item.amended``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from takeback.triage import errors as codes
from takeback.triage import sources, tasks
from takeback.triage.archives import ArchiveError, ArchiveReader, Refused, Streamed
from takeback.triage.content import ContentUnavailableError
from takeback.triage.models import ItemResult, item, source
from takeback.triage.stages.context import ScanContext
from takeback.triage.stages.seal import seal
from takeback.triage.tasks import BytesTask, Task
from takeback.triage.tasks.read import hash_file


def expand(ctx: ScanContext, item_id: int) -> bool:
    """List an archive's members into the queue (one transaction: all or nothing)."""
    with ctx.case.session() as s:
        row = s.execute(select(item).where(item.c.id == item_id)).one()
        if row.expanded:
            return False
        if row.depth >= ctx.settings.archive_max_depth:
            warn = {
                "code": codes.ARCHIVE_TOO_DEEP,
                "message": f"An archive nested {row.depth} levels deep (the limit is "
                f"{ctx.settings.archive_max_depth}); its entries were not read.",
            }
            add_warning(ctx, s, row, warn)
            s.execute(update(item).where(item.c.id == item_id).values(expanded=True))
            return False
        try:
            with _reader_for(ctx, row) as reader:
                members = reader.members()
                stopped = reader.stopped
        except (ArchiveUnavailableError, ArchiveError) as exc:
            add_warning(ctx, s, row, {"code": exc.code, "message": exc.message})
            s.execute(update(item).where(item.c.id == item_id).values(expanded=True))
            return False
        n = sources.add_members(s, row, members, depth_limit=ctx.settings.archive_max_depth)
        if stopped is not None:  # the entries before the damage stand; the archive says where it ended
            add_warning(ctx, s, row, {"code": stopped.code, "message": stopped.message})
        ctx.log(s, "archive.listed", subject=f"item:{item_id}", entries=n, sha256=row.sha256)
    ctx.progress.files_total += n
    ctx.progress.bytes_total += sum(m.size or 0 for m in members if m.kind == "file")
    return n > 0


def expand_remaining(ctx: ScanContext) -> bool:
    with ctx.case.session() as s:
        ids = [
            r[0] for r in s.execute(select(item.c.id).where(item.c.expanded.is_(False)).order_by(item.c.id))
        ]
    added = False
    for i in ids:
        added = expand(ctx, i) or added
    return added


def add_warning(ctx: ScanContext, s: Session, row: Any, warn: dict[str, str]) -> None:
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
    ctx.log(
        s,
        "item.amended",
        subject=f"item:{row.id}",
        code=warn["code"],
        previous_record=row.record_sha256,
        previous_seq=row.sealed_seq,
    )
    ctx.progress.errors += 0 if row.error_code else 1


def _reader_for(ctx: ScanContext, row: Any) -> ArchiveReader:
    try:
        return ctx.content.reader_for(row)
    except ContentUnavailableError as exc:
        raise ArchiveUnavailableError(exc.code, exc.message) from None


def verify_archives(ctx: ScanContext) -> None:
    """Hash every archive file again now that its entries are read: it must not have changed."""
    with ctx.case.session() as s:
        rows = s.execute(
            select(item.c.id, item.c.raw_path, item.c.sha256, item.c.source_id)
            .where(item.c.expanded.is_(True), item.c.parent_id.is_(None), item.c.sha256.is_not(None))
            .order_by(item.c.id)
        ).all()
        verified = {
            d.get("item")
            for d in (
                e.details
                for e in ctx.case.custody(s, ctx.run_opts.signer).store.entries()
                if e.action == "archive.verified"
            )
        }
    for r in rows:
        if r.id in verified:
            continue
        try:
            after, _ = hash_file(bytes(r.raw_path))
        except OSError:
            after = None
        same = after == r.sha256
        with ctx.case.session() as s:
            ctx.log(
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
                add_warning(
                    ctx,
                    s,
                    row,
                    {
                        "code": codes.ARCHIVE_CHANGED,
                        "message": "The archive's SHA-256 after reading differs from before: it changed "
                        "during the scan (or could not be read again).",
                    },
                )
                seal(ctx, s)


# --- reading an archive's members in the main process ----------------------------------------


class ArchiveUnavailableError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OpenArchive:
    """The archive whose members are being fed to workers (one at a time, read in archive order)."""

    def __init__(self, ctx: ScanContext, item_id: int) -> None:
        self.item_id = item_id
        self.reader: ArchiveReader | None = None
        self.problem: ArchiveUnavailableError | None = None
        with ctx.case.session() as s:
            self.row = s.execute(select(item).where(item.c.id == item_id)).one()
        try:
            self.reader = _reader_for(ctx, self.row)
        except ArchiveUnavailableError as exc:
            self.problem = exc

    def tasks(self, rows: list[Any]) -> Iterator[Task | ItemResult]:
        if self.reader is None:
            assert self.problem is not None
            for r in rows:
                yield ItemResult.failed(r.id, self.problem.code, self.problem.message)
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
                        yield ItemResult.failed(r.id, data.code, data.message)
                return
            r = by_index[index]
            seen.add(index)
            if isinstance(data, bytes):
                yield BytesTask(r.id, data, r.path)
            elif isinstance(data, Streamed):
                yield tasks.analyse_streamed(r.id, data, name=r.path)
            else:
                yield ItemResult.failed(r.id, data.code, data.message)
        for r in rows:
            if r.member_index not in seen:
                yield ItemResult.failed(
                    r.id, codes.ARCHIVE_CORRUPT, "The entry was listed but could not be found when read."
                )

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
