"""The archive task: an archive is recorded as one (its own hashes) and analysed no further; the
main process, which reads archives in place, lists its members into the queue."""

from __future__ import annotations

from takeback.media.types import Kind
from takeback.triage.archives import detect
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content


class ArchiveTask:
    name = "archive"

    def applies(self, content: Content) -> bool:
        # an archive too large to hold is expanded from its file; an archive member that large is not
        return content.data is not None or content.path is not None

    def run(self, content: Content, result: ItemResult) -> bool:
        fmt = detect(content.head)
        if fmt is None:
            return False
        result.archive, result.kind = fmt, Kind.ARCHIVE.value
        return True
