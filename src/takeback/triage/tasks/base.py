"""What the per-item tasks share: the queue's work units, the worker's options, one item's content,
and the interface every task has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from takeback.media import HEAD_BYTES, Limits, MediaType, sniff
from takeback.triage.archives import Streamed
from takeback.triage.models import ItemResult

if TYPE_CHECKING:
    from takeback.signals.fingerprint import Fingerprint


@dataclass(frozen=True, slots=True)
class KnownSource:
    """A known-file list as a worker reads it: a table in ``case.db`` or an NSRL RDS v3 database."""

    list_id: int
    name: str
    kind: str  # "case" (known_hash table) | "nsrl"
    path: str
    column: str = ""  # NSRL: the indexed column to look up (sha256 | sha1 | md5)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What a worker computes (from the case's settings; the same for every item)."""

    limits: Limits = field(default_factory=Limits)
    nudity: bool = True
    watermarks: str = "auto"
    video: bool = True
    known: tuple[KnownSource, ...] = ()


@dataclass(frozen=True, slots=True)
class FileTask:
    """A queue entry: a file on disk, read by the worker."""

    item_id: int
    raw_path: bytes
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True, slots=True)
class BytesTask:
    """A queue entry: an archive member's bytes, read by the main process (which owns the archive)."""

    item_id: int
    data: bytes
    name: str


Task = FileTask | BytesTask


@dataclass(slots=True)
class Content:
    """One item's content as its tasks see it: the bytes in memory, or (content too large to hold)
    the digests and head computed while it streamed past; and what earlier tasks decoded from it."""

    name: str
    media_type: MediaType
    head: bytes
    data: bytes | None = None
    streamed: Streamed | None = None
    #: the file on disk whose content streamed past (``None``: in memory, or an archive member):
    #: a large archive or video is read again from it
    path: bytes | None = None
    #: set by the fingerprint task (content in memory); the video task reuses its vPDQ
    fingerprint: Fingerprint | None = None

    @classmethod
    def of_bytes(cls, data: bytes, name: str) -> Content:
        head = data[:HEAD_BYTES]
        return cls(name=name, media_type=sniff(head), head=head, data=data)

    @classmethod
    def of_stream(cls, s: Streamed, *, name: str, path: bytes | None) -> Content:
        return cls(name=name, media_type=sniff(s.head), head=s.head, streamed=s, path=path)


class ItemTask(Protocol):
    """One independent piece of per-item work (IPED/Autopsy-style ingest module).

    ``applies`` says whether the task has anything to do with this content (an image task skips a
    document); ``run`` fills its part of the result and returns ``True`` when the item needs nothing
    more (a known file, an archive), so the tasks after it are skipped. A failure is recorded on the
    result (``error``, or a warning when the item's other results stand), never raised.
    """

    name: str

    def applies(self, content: Content) -> bool: ...

    def run(self, content: Content, result: ItemResult) -> bool: ...
