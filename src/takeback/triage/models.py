"""The scan case's work database (``DIR/case.db``): tables, settings and item records.

Why a database of its own rather than the installation's: a case folder is handed over whole (to a
prosecutor, a court expert, a regulator) and must verify on its own; it holds the work queue that
makes a scan resumable after ``kill -9``, every item's results, the groups, and the custody log.
SQLite, one file, WAL: a killed scan loses only what it had not committed.

The schema is created by :func:`takeback.triage.casedb.CaseDB.open` and versioned by
``SCHEMA_VERSION`` in ``case_meta`` (a case folder is written by one takeback version at a time; a
newer schema is refused rather than guessed at). Alembic migrates the installation's database,
which outlives versions; a case folder is closed when its scan ends.

Schema 2 adds the review grid's tables (:data:`REVIEW_METADATA`) and indexes, and a second custody
log (``review:<case id>``). The change is additive: a schema-1 folder is raised to 2 when it is
first opened for review (tables and indexes created, no scan row touched), so a takeback that knows
only schema 1 refuses it rather than verifying it without its review log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 2

#: JSON that stores Python ``None`` as SQL NULL (so "has warnings" is ``IS NOT NULL``).
_JSON = JSON(none_as_null=True)

#: Item states. ``pending`` items are the work queue; the others are final.
PENDING = "pending"
DONE = "done"
KNOWN = "known"  # matched a known-file list: counted, not analysed

CASE_METADATA = MetaData()

case_meta = Table(
    "case_meta",
    CASE_METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

source = Table(
    "source",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("arg", Text, nullable=False),  # as shown to a person (non-UTF-8 bytes escaped)
    Column("raw", LargeBinary, nullable=False),  # the absolute path's bytes
    Column("kind", String(16), nullable=False),  # folder | file | archive | missing
    Column("size", BigInteger),
    Column("sha256_before", String(64)),
    Column("sha256_after", String(64)),
    Column("enumerated", Boolean, nullable=False, default=False),
    Column("files", Integer),
    Column("bytes", BigInteger),
)

item = Table(
    "item",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("source.id"), nullable=False),
    Column("parent_id", Integer, ForeignKey("item.id")),  # the archive an item was read from
    Column("member_index", Integer),  # position in that archive
    Column("key", LargeBinary, nullable=False, unique=True),  # identity for resumable enumeration
    Column("raw_path", LargeBinary, nullable=False),  # path bytes (coreutils hash lists)
    Column("path", Text, nullable=False),  # display: archive.zip!/inner/path
    Column("folder", Text, nullable=False),  # display of the parent folder (folder groups)
    Column("name", Text, nullable=False),
    Column("depth", Integer, nullable=False, default=0),  # archive nesting depth
    Column("size", BigInteger),
    Column("mtime", String(40)),
    Column("ctime", String(40)),
    Column("atime", String(40)),
    Column("mtime_ns", BigInteger),  # at enumeration: detects a file changing during the scan
    Column("state", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("expanded", Boolean),  # archives: members listed (NULL: not an archive)
    Column("media_type", String(100)),
    Column("kind", String(16)),
    Column("sha256", String(64)),
    Column("md5", String(32)),
    Column("sha1", String(40)),
    Column("pdq", String(64)),
    Column("pdq_quality", Integer),
    Column("pdq_dihedral", Text),  # 8 hex hashes, space-separated, DIHEDRAL_NAMES order
    Column("width", Integer),
    Column("height", Integer),
    Column("duration_ms", Integer),
    Column("vpdq", LargeBinary),  # signals.vpdq.pack() frames
    Column("vpdq_frames", Integer),
    Column("provenance", _JSON),  # analysis.provenance Findings.to_record()
    Column("tier", Integer),  # strongest tier pointing to AI (1 strongest), NULL none
    Column("headline", Text),
    Column("ai", Boolean),
    Column("generator", Text),
    Column("nudity", Float),
    Column("explicit", Boolean),
    Column("exif", _JSON),  # camera fields (see triage.exif)
    Column("traces", _JSON),  # creation traces: XMP document ids, capture keys
    Column("known", _JSON),  # names of the known-file lists that matched
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("warnings", _JSON),  # [{code, message}]
    Column("processed_at", String(40)),
    Column("record_sha256", String(64)),
    Column("sealed_seq", Integer),  # the custody entry that sealed this record
)
Index("ix_item_state", item.c.state, item.c.id)
Index("ix_item_sha256", item.c.sha256)
Index("ix_item_parent", item.c.parent_id, item.c.member_index)
#: Final items not yet sealed: a handful at any moment, found without scanning a million-row table.
UNSEALED = item.c.record_sha256.is_(None) & (item.c.state != PENDING)
Index("ix_item_unsealed", item.c.id, sqlite_where=UNSEALED)

bank_match = Table(
    "bank_match",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), nullable=False, index=True),
    Column("bank", String(100), nullable=False),
    Column("content_id", Integer, nullable=False),
    Column("signal_type", String(16), nullable=False),
    Column("distance", Integer, nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("orientation", String(16)),
    Column("allow_list", Boolean, nullable=False),
    Column("suppressed", Boolean, nullable=False),
    Column("explanation", Text, nullable=False),
)

grp = Table(
    "grp",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("step", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("label", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("details", JSON, nullable=False),
)

grp_member = Table(
    "grp_member",
    CASE_METADATA,
    Column("group_id", Integer, ForeignKey("grp.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    Column("details", JSON, nullable=False),
)

link = Table(
    "link",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("step", String(64), nullable=False, index=True),
    Column("source_item", Integer, ForeignKey("item.id"), nullable=False, index=True),
    Column("derived_item", Integer, ForeignKey("item.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("directed", Boolean, nullable=False),  # False: related, direction unknown
    Column("score", Integer, nullable=False),
    Column("details", JSON, nullable=False),
)

known_list = Table(
    "known_list",
    CASE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("format", String(16), nullable=False),  # md5 | sha256 | sha1 | nsrl
    Column("entries", BigInteger, nullable=False),
)

known_hash = Table(
    "known_hash",
    CASE_METADATA,
    Column("alg", String(8), primary_key=True),
    Column("value", LargeBinary, primary_key=True),
    Column("list_id", Integer, nullable=False),
    sqlite_with_rowid=False,
)


def now_iso() -> str:
    """A UTC timestamp as records store it (microseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_NOT_STORED = {"stored": False}


@dataclass(slots=True)
class ItemResult:
    """One item's results: what the worker's tasks fill and what its ``item`` row then stores.

    Every field is the ``item`` column of the same name, except ``error`` (stored as ``error_code``
    and ``error_message``) and those marked not stored (the id is the row's key; ``archive`` and
    ``changed`` tell the main process what to do next). The stored columns are derived from these
    fields (:data:`RESULT_COLUMNS`), so a new result is one new field and one new column. A result
    crosses the process boundary from a worker (pickled in transit by multiprocessing; never stored
    so).
    """

    id: int = field(metadata=_NOT_STORED)
    state: str = DONE
    processed_at: str = field(default_factory=now_iso)
    size: int | None = None
    media_type: str | None = None
    kind: str | None = None
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: str | None = None
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    vpdq: bytes | None = None
    vpdq_frames: int | None = None
    provenance: dict[str, Any] | None = None
    tier: int | None = None
    headline: str | None = None
    ai: bool | None = None
    generator: str | None = None
    nudity: float | None = None
    explicit: bool | None = None
    exif: dict[str, Any] | None = None
    traces: dict[str, Any] | None = None
    known: list[str] | None = None
    error: dict[str, str] | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: the archive format when the item is one: the main process lists its members into the queue
    archive: str | None = field(default=None, metadata=_NOT_STORED)
    #: the stat views when the file changed while listed or read (a custody event)
    changed: dict[str, Any] | None = field(default=None, metadata=_NOT_STORED)

    @classmethod
    def failed(cls, item_id: int, code: str, message: str) -> ItemResult:
        """A result that is only an error (nothing could be read or computed)."""
        return cls(item_id, error={"code": code, "message": message})

    def columns(self) -> dict[str, Any]:
        """The item columns this result sets (no warnings is NULL)."""
        row = {name: getattr(self, name) for name in _STORED_FIELDS}
        row["error_code"] = self.error["code"] if self.error else None
        row["error_message"] = self.error["message"] if self.error else None
        row["warnings"] = self.warnings or None
        return row


_STORED_FIELDS = tuple(
    f.name
    for f in fields(ItemResult)
    if f.metadata.get("stored", True) and f.name not in ("error", "warnings")
)
#: Item columns a worker's result sets: derived from :class:`ItemResult`.
RESULT_COLUMNS: tuple[str, ...] = (*_STORED_FIELDS, "error_code", "error_message", "warnings")
#: Columns set when an item is listed (what it is and where it was found).
LISTING_COLUMNS: tuple[str, ...] = (
    "id",
    "source_id",
    "parent_id",
    "member_index",
    "path",
    "size",
    "mtime",
    "ctime",
    "atime",
)
#: Columns that make up an item's sealed record (what custody covers and ``case verify`` rechecks):
#: where it was found and everything its analysis stored.
RECORD_COLUMNS: tuple[str, ...] = (*LISTING_COLUMNS, *(c for c in RESULT_COLUMNS if c not in LISTING_COLUMNS))


def record_of(row: Any) -> dict[str, Any]:
    """An item row as the JSON object its record hash covers (bytes as hex)."""
    out: dict[str, Any] = {}
    # a result row's values by name in one pass (a getattr per column was most of case verify)
    values = dict(zip(row._fields, row, strict=True)) if hasattr(row, "_fields") else None
    for name in RECORD_COLUMNS:
        value = values[name] if values is not None else getattr(row, name)
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).hex()
        out[name] = value
    return out


@dataclass(frozen=True)
class ScanSettings:
    """Everything that decides a scan's results. Fixed when a case is created: a resumed scan must
    compute the same things, so a different value is refused (``--jobs`` is not a setting)."""

    nudity: bool = True
    #: "auto" reads dwtDct watermarks except on 4:2:0-subsampled JPEGs (the mark does not survive
    #: chroma subsampling: ``docs``/STACK), "on" always, "off" never
    watermarks: str = "auto"
    video: bool = True
    match_banks: bool = True
    max_file_bytes: int = 512 * 1024 * 1024
    max_image_pixels: int = 200_000_000
    archive_max_depth: int = 3
    #: expansion ratio (uncompressed / compressed) above which a member is refused as a bomb ...
    archive_max_ratio: int = 200
    #: ... once it has produced this many bytes (small, highly compressible files are common)
    archive_ratio_floor: int = 16 * 1024 * 1024
    archive_max_member_bytes: int = 16 * 1024 * 1024 * 1024
    archive_max_total_bytes: int = 64 * 1024 * 1024 * 1024
    archive_max_members: int = 1_000_000
    near_duplicate_threshold: int = 31
    derivative_loose_threshold: int = 70
    derivative_min_inliers: int = 32
    #: folders up to this size compare every pair; larger ones pair their items of interest (AI
    #: provenance, nudity flag) with the rest: keypoint matching costs ~2.5 ms a pair
    derivative_max_folder_images: int = 30
    grouping: tuple[str, ...] = ("near_duplicates", "folders", "derivatives")
    exclusion_lists: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["grouping"] = list(self.grouping)
        data["exclusion_lists"] = [dict(x) for x in self.exclusion_lists]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanSettings:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "grouping" in kwargs:
            kwargs["grouping"] = tuple(kwargs["grouping"])
        if "exclusion_lists" in kwargs:
            kwargs["exclusion_lists"] = tuple(dict(x) for x in kwargs["exclusion_lists"])
        return cls(**kwargs)

    def differences(self, other: ScanSettings) -> list[str]:
        a, b = self.to_json(), other.to_json()
        return sorted(k for k in a if a[k] != b.get(k))


# --- the review grid (schema 2; created by triage.review when a case is first opened for review) ---

REVIEW_METADATA = MetaData()

#: An item's current category: the last review-log entry that set it (``seq``) and who set it.
review = Table(
    "review",
    REVIEW_METADATA,
    Column("item_id", Integer, primary_key=True),
    Column("category", String(40), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
)
Index("ix_review_reviewer", review.c.reviewer)
Index("ix_review_category", review.c.category)

#: Notes on an item or a group (append-only; the review log holds each note's SHA-256, not its text).
review_note = Table(
    "review_note",
    REVIEW_METADATA,
    Column("id", Integer, primary_key=True),
    Column("target", String(8), nullable=False),  # item | group
    Column("target_id", Integer, nullable=False),
    Column("author", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("seq", Integer, nullable=False),
)
Index("ix_review_note_target", review_note.c.target, review_note.c.target_id, review_note.c.id)

#: Each time one item was shown unblurred, to whom (append-only).
review_reveal = Table(
    "review_reveal",
    REVIEW_METADATA,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
)
Index("ix_review_reveal_item", review_reveal.c.item_id)

#: Review order, derived from the sealed records (never evidence; rebuilt from them at will): an
#: item's priority (bank hit, AI provenance tier, nudity) and each group's (its strongest member).
#: ``sort_key`` is minus the priority, so one ascending index on (sort_key, id) is the review order
#: and a page's cursor is a row-value seek into it.
review_rank = Table(
    "review_rank",
    REVIEW_METADATA,
    Column("item_id", Integer, primary_key=True),
    Column("sort_key", Integer, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_review_rank_order", review_rank.c.sort_key, review_rank.c.item_id)

review_group_rank = Table(
    "review_group_rank",
    REVIEW_METADATA,
    Column("group_id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("sort_key", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_review_group_order", review_group_rank.c.sort_key, review_group_rank.c.group_id)
Index(
    "ix_review_group_kind_order",
    review_group_rank.c.kind,
    review_group_rank.c.sort_key,
    review_group_rank.c.group_id,
)

#: Indexes on the scan's own tables that review reads need, created with the review tables.
REVIEW_SCAN_INDEXES: tuple[str, ...] = ("CREATE INDEX IF NOT EXISTS ix_item_sealed_seq ON item (sealed_seq)",)
