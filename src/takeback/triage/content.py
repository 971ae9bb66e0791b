"""Read an item's bytes again (for grouping features and report thumbnails), from its file or from
inside its archive, and prove they are the bytes that were hashed during the scan.

Anything read after the scan is checked against the item's recorded SHA-256: a mismatch is a
finding about the source (it changed), never silently different evidence.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select

from takeback.triage import errors as codes
from takeback.triage.archives import ArchiveLimits, ArchiveReader, Streamed, detect, open_bytes
from takeback.triage.casedb import CaseDB
from takeback.triage.models import item


class ContentUnavailableError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _ClosingReader(ArchiveReader):
    def close(self) -> None:
        super().close()
        self.fh.close()


def _open_readonly(path: bytes) -> int:
    from takeback.triage.tasks.read import open_readonly as open_ro

    return open_ro(path)


class ContentAccess:
    def __init__(self, case: CaseDB, limits: ArchiveLimits) -> None:
        self.case = case
        self.limits = limits
        #: (item id, recorded SHA-256, SHA-256 read now) for content that changed since the scan;
        #: callers log each as a custody event
        self.mismatches: list[tuple[int, str, str]] = []

    def _row(self, item_id: int) -> Any:
        with self.case.session() as s:
            return s.execute(select(item).where(item.c.id == item_id)).one()

    def reader_for(self, row: Any) -> ArchiveReader:
        """An open reader for an archive item: on its file, or on its bytes read from its parent."""
        if row.parent_id is None:
            try:
                fd = _open_readonly(bytes(row.raw_path))
            except OSError as exc:
                raise ContentUnavailableError(
                    codes.ARCHIVE_CORRUPT, f"The archive could not be opened: {exc.strerror or exc}."
                ) from None
            fh = os.fdopen(fd, "rb")
            fmt = detect(fh.read(4096))
            if fmt is None:
                fh.close()
                raise ContentUnavailableError(
                    codes.ARCHIVE_CORRUPT, "The file no longer looks like an archive."
                )
            size = os.fstat(fh.fileno()).st_size
            return _ClosingReader(fh, fmt, size=size, limits=self.limits, name=row.name)
        data = self.member_bytes(row)
        fmt = detect(data[:4096])
        if fmt is None:
            raise ContentUnavailableError(codes.ARCHIVE_CORRUPT, "The entry no longer looks like an archive.")
        return open_bytes(data, fmt, limits=self.limits, name=row.name)

    def member_bytes(self, row: Any) -> bytes:
        """An archive member's bytes, read again from its parent and checked against its SHA-256."""
        parent = self._row(row.parent_id)
        with self.reader_for(parent) as reader:
            for _, data in reader.read([row.member_index]):
                if isinstance(data, bytes):
                    self._check(data, row)
                    return data
                if isinstance(data, Streamed):
                    raise ContentUnavailableError(
                        codes.ARCHIVE_BOMB,
                        f"The entry is {data.size:,} bytes, over the in-memory limit; it was not read again.",
                    )
                raise ContentUnavailableError(data.code, data.message)
        raise ContentUnavailableError(
            codes.ARCHIVE_CORRUPT, "The entry could not be found in its archive again."
        )

    def file_bytes(self, row: Any) -> bytes:
        try:
            fd = _open_readonly(bytes(row.raw_path))
        except OSError as exc:
            raise ContentUnavailableError(
                codes.VANISHED, f"The file could not be opened again: {exc.strerror or exc}."
            ) from None
        try:
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(self.limits.in_memory_bytes + 1)
        except OSError as exc:
            raise ContentUnavailableError(
                codes.VANISHED, f"The file could not be read again: {exc.strerror or exc}."
            ) from None
        if len(data) > self.limits.in_memory_bytes:
            raise ContentUnavailableError(
                codes.ARCHIVE_BOMB, "The file is over the in-memory limit; it was not read again."
            )
        self._check(data, row)
        return data

    def _check(self, data: bytes, row: Any) -> None:
        now = _check_hash(data, row)
        if now is not None:
            self.mismatches.append((int(row.id), str(row.sha256), now))
            raise ContentUnavailableError(
                codes.CHANGED,
                "The content read again does not match the SHA-256 recorded during the scan: the source "
                "changed.",
            )

    def read_items(
        self, rows: Iterable[Any]
    ) -> Iterator[tuple[Any, bytes | None, ContentUnavailableError | None]]:
        """``(row, bytes, None)`` or ``(row, None, problem)`` per row; each archive is opened once."""
        members: dict[int, list[Any]] = {}
        for row in rows:
            if row.parent_id is None:
                try:
                    yield row, self.file_bytes(row), None
                except ContentUnavailableError as exc:
                    yield row, None, exc
            else:
                members.setdefault(row.parent_id, []).append(row)
        for parent_id, group in members.items():
            try:
                reader = self.reader_for(self._row(parent_id))
            except ContentUnavailableError as exc:
                for row in group:
                    yield row, None, exc
                continue
            by_index = {r.member_index: r for r in group}
            seen: set[int] = set()
            with reader:
                for index, data in reader.read(list(by_index)):
                    row = by_index.get(index)
                    if row is None:
                        continue
                    seen.add(index)
                    if isinstance(data, bytes):
                        try:
                            self._check(data, row)
                            yield row, data, None
                        except ContentUnavailableError as exc:
                            yield row, None, exc
                    else:
                        code = getattr(data, "code", codes.ARCHIVE_BOMB)
                        yield row, None, ContentUnavailableError(code, "The entry could not be read again.")
            for index, row in by_index.items():
                if index not in seen:
                    yield (
                        row,
                        None,
                        ContentUnavailableError(codes.ARCHIVE_CORRUPT, "The entry could not be found again."),
                    )


def _check_hash(data: bytes, row: Any) -> str | None:
    """The SHA-256 read now, when it differs from the one recorded for ``row``; else None."""
    if not row.sha256:
        return None
    now = hashlib.sha256(data).hexdigest()
    return None if now == row.sha256 else now
