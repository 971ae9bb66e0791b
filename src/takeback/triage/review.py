"""The review grid's service: a ``takeback scan`` case folder opened in place for people to review.

What it promises, and why:

- **The scan's records are never modified.** Reviews go to their own tables in the same
  ``case.db`` (``models.REVIEW_METADATA``) and to a second custody log, ``review:<case id>``
  (:mod:`.reviewlog`), that ``takeback case verify`` checks with the scan's. Entries hold ids,
  category keys, hashes and counts, never free text: a note's entry holds its SHA-256.
- **Open is fast; verification runs beside it.** The same check as ``case verify``
  (:func:`.service.verify_case`) runs in a background thread, its result cached by the two logs'
  heads. A case that fails it is read-only, with the first broken entry named.
- **It works while the scan still runs.** The scanner holds the folder's lock; the review never
  takes it. SQLite in WAL mode lets both work: this module begins real transactions (``BEGIN``, and
  ``BEGIN IMMEDIATE`` for its writes, so two reviewers never both extend the log from one head),
  and items the scan sealed since the last page appear on the next.
- **Blurred and greyscale by default.** Tiles are made on the server from the item's bytes, read
  again and checked against their SHA-256 (:class:`.content.ContentAccess`); clear pixels are
  produced only for one item at a time on a reveal, which is logged with who and when, and never
  written to disk.
- **Paged by what matters.** Items and groups are ordered by bank hits, AI provenance tier and the
  nudity score through a derived order table with an index (``review_rank``), paged by keyset, so a
  20,000-item case pages in milliseconds (benchmarks/bench_review.py).

Actors are given by the caller ("staff:mei"), never a person's name.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    Engine,
    Integer,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from takeback.clock import utcnow
from takeback.evidence.custody import CustodyLog, CustodyRecord, SqlCustodyStore
from takeback.evidence.signing import Signer
from takeback.media import Limits
from takeback.triage import errors as codes
from takeback.triage import reviewlog, thumbnails
from takeback.triage.archives import ArchiveLimits
from takeback.triage.casedb import DB_NAME, KIND, CaseDB, is_case_dir
from takeback.triage.content import ContentAccess, ContentUnavailableError
from takeback.triage.errors import TriageError
from takeback.triage.models import (
    DONE,
    REVIEW_METADATA,
    REVIEW_SCAN_INDEXES,
    SCHEMA_VERSION,
    ScanSettings,
    bank_match,
    case_meta,
    grp,
    grp_member,
    item,
    link,
    review,
    review_group_rank,
    review_note,
    review_rank,
    review_reveal,
)
from takeback.triage.service import CaseBankImport, Problem, import_into_bank, verify_case

if TYPE_CHECKING:
    from takeback.store import Database

T = TypeVar("T")

#: The default categories, in the order of the number keys 1-5 (Autopsy-style).
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "victim_identified",
    "victim_unknown",
    "ai_generated",
    "source_photo",
    "not_relevant",
)
NOT_RELEVANT = "not_relevant"
MAX_CATEGORIES = 9  # number keys 1-9
_CATEGORY_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")
#: a note's longest text: a paragraph or two; longer material belongs in the case file, not the grid
MAX_NOTE_CHARS = 4000
#: items one action may touch at once, and per review-log entry (an entry lists its item ids)
MAX_SELECTION = 20_000
ITEMS_PER_ENTRY = 1000
PAGE_MAX = 200
GROUP_KINDS = ("derivation", "near_duplicates", "folder")
#: re-run the scan's verification at most this often while its log grows, and every so often anyway
VERIFY_MIN_INTERVAL_S = 10.0
VERIFY_MAX_AGE_S = 900.0
REVIEW_VERIFY_MIN_INTERVAL_S = 2.0
#: how long a read of the logs' heads serves the pages that ask (another process's change shows
#: within this; this process's own changes at once)
HEADS_TTL_S = 1.0
CACHE_FOLDER = ".review-cache"
THUMB_MEMORY_BYTES = 48 * 1024 * 1024
_LIVE_HIT = and_(bank_match.c.allow_list.is_(False), bank_match.c.suppressed.is_(False))


class ReviewError(TriageError):
    """A review action that cannot be done as asked (stable ``code``; the message says what to do)."""

    code = "review_error"


# --- what the review reads out ---------------------------------------------------------------------


@dataclass(frozen=True)
class Integrity:
    """Where the case's verification stands. ``status``: verifying (no result yet), verified, failed.

    ``where``/``code``/``message``: the first broken entry when failed."""

    status: Literal["verifying", "verified", "failed"]
    checked_at: datetime | None = None
    where: str | None = None
    log: str | None = None
    seq: int | None = None
    code: str | None = None
    message: str | None = None
    entries: int = 0
    review_entries: int = 0
    stale: bool = False  # the logs grew since the result shown; a new check is under way

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(slots=True)
class ItemCard:
    """One item as the grid shows it (no path: folder names can name people; the detail has it)."""

    id: int
    name: str
    kind: str | None
    media_type: str | None
    width: int | None
    height: int | None
    tier: int | None
    headline: str | None
    generator: str | None
    nudity: float | None
    explicit: bool
    bank_hits: int
    error_code: str | None
    category: str | None
    reviewer: str | None
    rank: int
    role: str | None = None  # the item's role in the group shown (representative, source, ...)

    @property
    def flags(self) -> list[str]:
        out = []
        if self.bank_hits:
            out.append("bank_match")
        if self.tier is not None and self.tier <= 2:
            out.append("ai")
        if self.explicit:
            out.append("nudity")
        if self.error_code:
            out.append("error")
        return out


@dataclass(frozen=True)
class GroupCard:
    id: int
    kind: str
    label: str
    size: int
    rank: int
    categorised: int
    members: list[ItemCard]


@dataclass(frozen=True)
class Page(Generic[T]):
    entries: list[T]
    next: str | None  # the cursor of the next page (None: this is the last)


@dataclass(frozen=True)
class Note:
    id: int
    target: str
    target_id: int
    author: str
    at: str
    text: str
    seq: int


@dataclass(frozen=True)
class Reveal:
    id: int
    item_id: int
    actor: str
    at: str
    seq: int


@dataclass(frozen=True)
class ItemDetail:
    card: ItemCard
    path: str
    folder: str
    size: int | None
    sha256: str | None
    md5: str | None
    pdq: str | None
    pdq_quality: int | None
    duration_ms: int | None
    camera: str | None
    error_message: str | None
    groups: list[tuple[int, str, str, str]]  # (id, kind, label, role)
    #: (other item, link kind, directed, what the other is: source | derivative | related, its name)
    links: list[tuple[int, str, bool, str, str]]
    matches: list[dict[str, Any]]
    notes: list[Note]
    reveals: list[Reveal]


@dataclass(frozen=True)
class GroupDetail:
    id: int
    kind: str
    label: str
    size: int
    details: dict[str, Any]
    categorised: int
    notes: list[Note]


@dataclass(frozen=True)
class Progress:
    """Categorised items per reviewer (who set each item's current category) out of ``total``."""

    total: int
    categorised: int
    by_reviewer: list[tuple[str, int]]
    by_category: dict[str, int]


@dataclass(frozen=True)
class Tile:
    """A thumbnail to send. ``problem``: why the placeholder is shown instead (a stable code)."""

    data: bytes
    media_type: str
    problem: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Revealed:
    picture: thumbnails.Picture
    reveal: Reveal


@dataclass(frozen=True)
class HashExport:
    text: str
    media_type: str
    filename: str
    rows: int
    sha256: str
    seq: int


# --- the database, with real transactions ------------------------------------------------------------


def _connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the "begin" listener below issues BEGIN itself
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("tb_write") else "BEGIN")


def _engine(path: Path, *, read_only: bool) -> Engine:
    """The review's engine. Read-only: ``mode=ro``, or ``immutable`` where even the WAL's shared
    memory cannot be made (read-only media), as ``case verify`` does."""
    urls = (
        [f"sqlite:///file:{path}?mode=ro&uri=true", f"sqlite:///file:{path}?immutable=1&uri=true"]
        if read_only
        else [f"sqlite:///{path}"]
    )
    for n, url in enumerate(urls):
        engine = create_engine(url, pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _connect)
        event.listen(engine, "begin", _begin)
        try:
            with engine.connect() as c:
                c.exec_driver_sql("SELECT 1 FROM case_meta LIMIT 1")
            return engine
        except OperationalError as exc:
            engine.dispose()
            if n == len(urls) - 1:
                raise ReviewError(
                    f"{path} cannot be read as a scan case: {exc.orig}", code=codes.NOT_A_CASE
                ) from None
    raise AssertionError("unreachable")


def _writable(folder: Path) -> bool:
    """Whether the review can write its tables here (the database and, for its WAL, the folder)."""
    return os.access(folder / DB_NAME, os.W_OK) and os.access(folder, os.W_OK)


def _rank_expr() -> Any:
    """An item's review priority: a live bank hit first, then AI provenance (tier 1 strongest),
    then the nudity flag and score. An integer, so one index orders it."""
    hit = exists().where(bank_match.c.item_id == item.c.id, _LIVE_HIT)
    tier = case(
        (item.c.tier == 1, 400_000),
        (item.c.tier == 2, 300_000),
        (item.c.tier == 3, 200_000),
        (item.c.tier == 4, 100_000),
        else_=0,
    )
    return (
        case((hit, 10_000_000), else_=0)
        + tier
        + case((item.c.explicit.is_(True), 10_000), else_=0)
        + sa_cast(func.coalesce(item.c.nudity, 0) * 1000, Integer)
    )


#: items the grid shows: analysed images and videos, and those that failed to decode as one
REVIEWABLE = and_(
    item.c.state == DONE,
    or_(
        item.c.kind.in_(("image", "video")),
        and_(
            item.c.error_code.is_not(None),
            or_(item.c.media_type.like("image/%"), item.c.media_type.like("video/%")),
        ),
    ),
)


_HITS = (
    select(func.count())
    .select_from(bank_match)
    .where(bank_match.c.item_id == item.c.id, _LIVE_HIT)
    .scalar_subquery()
    .label("hits")
)
_CARD_COLUMNS = (
    item.c.id,
    item.c.name,
    item.c.kind,
    item.c.media_type,
    item.c.width,
    item.c.height,
    item.c.tier,
    item.c.headline,
    item.c.generator,
    item.c.nudity,
    item.c.explicit,
    item.c.error_code,
    _HITS,
    (-_rank_expr()).label("rank"),
)
#: an item's card: built once (constructing the expression per page cost more than running it)
_CARDS = select(*_CARD_COLUMNS, literal(None).label("category"), literal(None).label("reviewer")).where(
    item.c.id.in_(bindparam("ids", expanding=True))
)
_CARDS_REVIEWED = (
    select(*_CARD_COLUMNS, review.c.category, review.c.reviewer)
    .outerjoin(review, review.c.item_id == item.c.id)
    .where(item.c.id.in_(bindparam("ids", expanding=True)))
)


def _cursor(rank: int, ident: int) -> str:
    return f"{rank}.{ident}"


def _parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    m = re.fullmatch(r"(-?\d{1,12})\.(\d{1,12})", cursor)
    if m is None:
        raise ReviewError("That page link is not valid; start again from the first page.", code="bad_cursor")
    return int(m.group(1)), int(m.group(2))


def check_actor(actor: str) -> str:
    if not isinstance(actor, str) or not _ACTOR.match(actor):
        raise ReviewError(
            "The actor must be an account handle such as 'staff:mei' (letters, digits and . _ : @ -), "
            "never a person's name.",
            code="bad_actor",
        )
    return actor


def check_categories(categories: Sequence[str]) -> tuple[str, ...]:
    keys = tuple(c.strip() for c in categories if c.strip())
    if not keys:
        return DEFAULT_CATEGORIES
    bad = [k for k in keys if not _CATEGORY_KEY.match(k)]
    if bad:
        raise ReviewError(
            f"Category keys are lower-case letters, digits and _ (up to 40): {', '.join(bad)}.",
            code="bad_category",
        )
    if len(set(keys)) != len(keys) or len(keys) > MAX_CATEGORIES:
        raise ReviewError(
            f"Give 1 to {MAX_CATEGORIES} different categories (one per number key).", code="bad_category"
        )
    return keys


def check_note(note: str) -> str:
    """A note as stored: newlines normalised; refused when empty, too long or holding control
    characters. Stored as text: whatever HTML it holds is shown escaped, never run."""
    if not isinstance(note, str):
        raise ReviewError("A note is text.", code="bad_note")
    clean = note.replace("\r\n", "\n").replace("\r", "\n")
    if not clean.strip():
        raise ReviewError("The note is empty.", code="note_empty")
    if len(clean) > MAX_NOTE_CHARS:
        raise ReviewError(
            f"The note is {len(clean):,} characters; a note holds at most {MAX_NOTE_CHARS:,}. Shorten it, "
            "or keep the longer text in the case file and note where it is.",
            code="note_too_long",
        )
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in clean):
        raise ReviewError("The note holds control characters; remove them.", code="bad_note")
    return clean


# --- the service ------------------------------------------------------------------------------------


class ReviewService:
    """One per process (the web app keeps one): opened cases, by folder, shared by every request."""

    def __init__(
        self,
        *,
        signer: Signer,
        categories: Sequence[str] | None = None,
        thumb_memory_bytes: int = THUMB_MEMORY_BYTES,
        disk_cache: bool = True,
    ) -> None:
        self.signer = signer
        self.categories = check_categories(categories or ())
        self.thumb_memory_bytes = thumb_memory_bytes
        self.disk_cache = disk_cache
        self._open: dict[Path, CaseReview] = {}
        self._lock = threading.Lock()

    def open(self, folder: Path) -> CaseReview:
        """The case at ``folder``, opened once per process and kept (reopened if the folder's
        ``case.db`` was replaced)."""
        folder = folder.absolute()
        with self._lock:
            cur = self._open.get(folder)
            if cur is not None and cur.same_file():
                return cur
            if cur is not None:
                cur.close()
            opened = CaseReview(folder, service=self)
            self._open[folder] = opened
            return opened

    def close(self) -> None:
        with self._lock:
            for c in self._open.values():
                c.close()
            self._open.clear()

    def __enter__(self) -> ReviewService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CaseReview:
    """One case folder open for review. Thread-safe: requests and the verifier share it."""

    def __init__(self, folder: Path, *, service: ReviewService) -> None:
        if not is_case_dir(folder):
            raise ReviewError(
                f"{folder} is not a scan case folder (it has no {DB_NAME}).", code=codes.NOT_A_CASE
            )
        self.folder = folder
        self.service = service
        self.signer = service.signer
        path = folder / DB_NAME
        self._stat = _identity(path)
        self.writable = _writable(folder)
        self.engine = _engine(path, read_only=not self.writable)
        self._write = self.engine.execution_options(tb_write=True)
        try:
            self.case_id, self.settings = self._check_meta()
            self.log_id = reviewlog.log_id(self.case_id)
            self.has_tables = self._prepare()
            #: the derived order tables are used (and kept current) only where they can be written
            self.ranked = self.has_tables and self.writable
            self.categories = self._stored_categories()
            self.case = CaseDB(folder=folder, engine=self.engine, case_id=self.case_id, read_only=True)
            self.content = ContentAccess(
                self.case, ArchiveLimits(in_memory_bytes=self.settings.max_file_bytes)
            )
            self.limits = Limits(
                max_pixels=self.settings.max_image_pixels, max_file_bytes=self.settings.max_file_bytes
            )
            self._thumbs: OrderedDict[int, Tile] = OrderedDict()
            self._thumb_bytes = 0
            self._thumb_lock = threading.Lock()
            self._pending: dict[int, Future[Tile]] = {}
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-thumbs")
            self._verifier = _Verifier(self)
            self._refresh_lock = threading.Lock()
            self._heads_cache: tuple[float, tuple[str | None, str | None]] | None = None
            self._ranked_at: str | bool | None = False  # the scan head last ranked to (False: never)
            self._counts_cache: tuple[str | None, dict[str, int]] | None = None
            self._progress_cache: tuple[tuple[str | None, str | None], Progress] | None = None
            self.refresh()
            self._verifier.poke()
        except BaseException:
            self.engine.dispose()
            raise

    # --- opening ------------------------------------------------------------------------------

    def same_file(self) -> bool:
        """Whether the folder's case.db is still the file opened (not moved, deleted or replaced)."""
        try:
            return _identity(self.folder / DB_NAME) == self._stat
        except OSError:
            return False

    def close(self) -> None:
        self._verifier.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()

    def _check_meta(self) -> tuple[str, ScanSettings]:
        with self._read() as s:
            meta = {
                k: v
                for k, v in s.execute(
                    select(case_meta.c.key, case_meta.c.value).where(
                        case_meta.c.key.in_(("kind", "schema", "case_id", "settings"))
                    )
                )
            }
        if meta.get("kind") != KIND or "case_id" not in meta:
            raise ReviewError(f"{self.folder / DB_NAME} is not a scan case database.", code=codes.NOT_A_CASE)
        if int(meta.get("schema", 0)) > SCHEMA_VERSION:
            raise ReviewError(
                f"The case at {self.folder} was written by a newer takeback (schema {meta.get('schema')}); "
                "update takeback to review it.",
                code=codes.CASE_NEWER,
            )
        return str(meta["case_id"]), ScanSettings.from_json(meta.get("settings") or {})

    def _prepare(self) -> bool:
        """Create the review tables, triggers and indexes (additive; a schema-1 folder becomes 2) and
        start the review log; returns whether the review tables are there."""
        with self._read() as s:
            present = reviewlog.has_review(s) and s.scalar(
                select(case_meta.c.value).where(case_meta.c.key == "review")
            )
        if present or not self.writable:
            return bool(present) or self._tables_exist()
        with self._writing() as s:
            conn = s.connection()
            REVIEW_METADATA.create_all(conn, checkfirst=True)
            for t in ("review_note", "review_reveal"):
                for verb in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {t}_no_{verb.lower()} BEFORE {verb} ON {t} "
                        f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"
                    )
            for ddl in REVIEW_SCAN_INDEXES:
                conn.exec_driver_sql(ddl)
            schema = int(s.scalar(select(case_meta.c.value).where(case_meta.c.key == "schema")) or 0)
            if schema < SCHEMA_VERSION:
                s.execute(case_meta.update().where(case_meta.c.key == "schema").values(value=SCHEMA_VERSION))
            if s.scalar(select(case_meta.c.value).where(case_meta.c.key == "review")) is None:
                categories = list(self.service.categories)
                entry = self._log(s).append(
                    actor="takeback",
                    action=reviewlog.STARTED,
                    details={"categories": categories, "schema_before": schema},
                )
                s.execute(
                    case_meta.insert().values(
                        key="review", value={"categories": categories, "started_seq": entry.seq}
                    )
                )
                s.execute(case_meta.insert().values(key="review:ranked", value={"seq": 0}))
        return True

    def _tables_exist(self) -> bool:
        with self._read() as s:
            return reviewlog.has_review(s)

    def _stored_categories(self) -> tuple[str, ...]:
        if not self.has_tables:
            return self.service.categories
        with self._read() as s:
            meta = s.scalar(select(case_meta.c.value).where(case_meta.c.key == "review")) or {}
        stored = tuple(meta.get("categories") or DEFAULT_CATEGORIES)
        wanted = self.service.categories
        if stored == wanted or not self.writable:
            return stored
        with self._writing() as s:
            self._log(s).append(
                actor="takeback",
                action=reviewlog.CATEGORIES,
                details={"categories": list(wanted), "previous": list(stored)},
            )
            s.execute(
                case_meta.update()
                .where(case_meta.c.key == "review")
                .values(value={**meta, "categories": list(wanted)})
            )
        return wanted

    # --- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        """One read snapshot (BEGIN ... ROLLBACK)."""
        with Session(self.engine) as s:
            yield s

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        """One write transaction, begun IMMEDIATE: the log's head read inside it stays the head."""
        if not self.writable:
            raise ReviewError(
                f"The case folder {self.folder} cannot be written here (read-only media or permissions); "
                "it can be looked at, not reviewed.",
                code="review_read_only",
            )
        with Session(self._write) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise
            finally:
                self._changed()

    def _log(self, s: Session) -> CustodyLog:
        return CustodyLog(SqlCustodyStore(s, self.log_id), self.signer)

    def _can_write(self) -> None:
        state = self.integrity()
        if state.failed:
            raise ReviewError(
                f"This case failed verification at {state.where}: {state.message} It is open read-only; "
                "nothing can be categorised, noted or revealed until it verifies.",
                code="review_verification_failed",
            )
        if not self.has_tables:
            raise ReviewError(
                f"The case folder {self.folder} cannot be written here; it can be looked at, not reviewed.",
                code="review_read_only",
            )

    # --- integrity -----------------------------------------------------------------------------

    def integrity(self) -> Integrity:
        """The latest verification (a new one starts in the background when the logs have grown)."""
        return self._verifier.state()

    def wait_verified(self, timeout: float = 60.0) -> Integrity:
        """Block until a verification of the current logs has finished (tests, the CLI)."""
        return self._verifier.wait(timeout)

    def heads(self) -> tuple[str | None, str | None]:
        """The two logs' last entries (scan, review), read at most every ``HEADS_TTL_S`` (every page
        asks; another process's change shows within that), at once after this process wrote."""
        cached = self._heads_cache
        now = time.monotonic()
        if cached is not None and now - cached[0] < HEADS_TTL_S:
            return cached[1]
        with self._read() as s:
            value = self._heads(s)
        self._heads_cache = (now, value)
        return value

    def _changed(self) -> None:
        """This process wrote: what is cached by the logs' heads is out of date."""
        self._heads_cache = None

    def _heads(self, s: Session) -> tuple[str | None, str | None]:
        def head(log: str) -> str | None:
            return s.scalar(
                select(CustodyRecord.hash)
                .where(CustodyRecord.log == log)
                .order_by(CustodyRecord.seq.desc())
                .limit(1)
            )

        return head(self.case.log_id), head(self.log_id)

    # --- order: the derived rank tables -------------------------------------------------------

    def refresh(self) -> int:
        """Rank the items the scan sealed since the last refresh (and re-rank the groups when the
        scan grouped again); returns how many items were ranked. Cheap when nothing changed: one
        indexed read of the scan log's head."""
        if not self.ranked:
            return 0
        scan_head = self.heads()[0]
        if scan_head == self._ranked_at:
            return 0
        ranked = self._refresh()
        self._ranked_at = scan_head
        return ranked

    def _refresh(self) -> int:
        with self._read() as s:
            head = self._scan_seq(s)
            done = (s.scalar(select(case_meta.c.value).where(case_meta.c.key == "review:ranked")) or {}).get(
                "seq", 0
            )
        if head == done:
            return 0
        with self._refresh_lock, self._writing() as s:
            state = s.scalar(select(case_meta.c.value).where(case_meta.c.key == "review:ranked")) or {}
            since = int(state.get("seq", 0))
            head = self._scan_seq(s)
            if head == since:
                return 0
            ranked = cast(
                CursorResult[Any],
                s.execute(
                    sqlite_insert(review_rank)
                    .from_select(
                        ["item_id", "sort_key"],
                        select(item.c.id, -_rank_expr()).where(REVIEWABLE, item.c.sealed_seq > since),
                    )
                    .prefix_with("OR REPLACE")
                ),
            ).rowcount
            regroup = bool(
                s.scalar(
                    select(func.count())
                    .select_from(CustodyRecord)
                    .where(
                        CustodyRecord.log == self.case.log_id,
                        CustodyRecord.seq > since,
                        CustodyRecord.action == "grouping.completed",
                    )
                )
            )
            if ranked and not regroup:
                regroup = bool(s.scalar(select(func.count()).select_from(grp).limit(1)))
            if regroup or since == 0:
                self._rank_groups(s)
            value = {"seq": head}
            moved = cast(
                CursorResult[Any],
                s.execute(case_meta.update().where(case_meta.c.key == "review:ranked").values(value=value)),
            )
            if moved.rowcount == 0:
                s.execute(case_meta.insert().values(key="review:ranked", value=value))
            return int(ranked or 0)

    def _scan_seq(self, s: Session) -> int:
        return int(
            s.scalar(
                select(func.coalesce(func.max(CustodyRecord.seq), 0)).where(
                    CustodyRecord.log == self.case.log_id
                )
            )
            or 0
        )

    @staticmethod
    def _rank_groups(s: Session) -> None:
        s.execute(delete(review_group_rank))
        s.execute(
            insert(review_group_rank).from_select(
                ["group_id", "kind", "sort_key", "size"],
                select(grp.c.id, grp.c.kind, func.coalesce(func.min(review_rank.c.sort_key), 0), grp.c.size)
                .select_from(grp)
                .outerjoin(grp_member, grp_member.c.group_id == grp.c.id)
                .outerjoin(review_rank, review_rank.c.item_id == grp_member.c.item_id)
                .group_by(grp.c.id),
            )
        )

    # --- reading: pages, details ---------------------------------------------------------------

    def _card_rows(self, s: Session, ids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
        """Each item's card fields in :class:`ItemCard` order (all but its role), by id: one
        prebuilt statement, rows read as tuples (a page shows a few hundred)."""
        wanted = list(ids)
        if not wanted:
            return {}
        stmt = _CARDS_REVIEWED if self.has_tables else _CARDS
        out: dict[int, tuple[Any, ...]] = {}
        for (
            id_,
            name,
            kind,
            media_type,
            width,
            height,
            tier,
            headline,
            generator,
            nudity,
            explicit,
            error_code,
            hits,
            rank,
            category,
            reviewer,
        ) in s.execute(stmt, {"ids": wanted}):
            out[id_] = (
                id_,
                name,
                kind,
                media_type,
                width,
                height,
                tier,
                headline,
                generator,
                nudity,
                bool(explicit),
                int(hits or 0),
                error_code,
                category,
                reviewer,
                -int(rank or 0),
            )
        return out

    def _cards(self, s: Session, ids: Sequence[int], roles: dict[int, str] | None = None) -> list[ItemCard]:
        """Cards for ``ids``, in that order."""
        got = self._card_rows(s, ids)
        roles = roles or {}
        return [_card(got[i], roles.get(i)) for i in ids if i in got]

    def _ranks(self) -> Any:
        """``(item_id, rank)`` of every reviewable item: the indexed table, or computed (the
        baseline, and what a folder on read-only media that was never opened for review gets)."""
        if self.ranked:
            return select(review_rank.c.item_id, review_rank.c.sort_key.label("rank")).subquery()
        return select(item.c.id.label("item_id"), (-_rank_expr()).label("rank")).where(REVIEWABLE).subquery()

    def items_page(
        self,
        *,
        after: str | None = None,
        limit: int = 60,
        group: int | None = None,
        uncategorised: bool = False,
        category: str | None = None,
    ) -> Page[ItemCard]:
        """Items in review order (optionally one group's, or only uncategorised / one category)."""
        self.refresh()
        limit = max(1, min(limit, PAGE_MAX))
        cur = _parse_cursor(after)
        ranks = self._ranks()
        stmt = select(ranks.c.item_id, ranks.c.rank)
        roles: dict[int, str] = {}
        if group is not None:
            stmt = stmt.join(grp_member, grp_member.c.item_id == ranks.c.item_id).where(
                grp_member.c.group_id == group
            )
            stmt = stmt.add_columns(grp_member.c.role)
        if (uncategorised or category) and self.has_tables:
            stmt = stmt.outerjoin(review, review.c.item_id == ranks.c.item_id)
            stmt = stmt.where(review.c.category.is_(None) if uncategorised else review.c.category == category)
        if cur is not None:
            stmt = stmt.where(
                tuple_(ranks.c.rank, ranks.c.item_id) > tuple_(literal(cur[0]), literal(cur[1]))
            )
        stmt = stmt.order_by(ranks.c.rank, ranks.c.item_id).limit(limit + 1)
        with self._read() as s:
            rows = s.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            if group is not None:
                roles = {r.item_id: r.role for r in rows}
            cards = self._cards(s, [r.item_id for r in rows], roles)
        nxt = _cursor(rows[-1].rank, rows[-1].item_id) if more and rows else None
        return Page(cards, nxt)

    def groups_page(
        self, *, kind: str | None = None, after: str | None = None, limit: int = 24, members: int = 12
    ) -> Page[GroupCard]:
        """Groups in review order (their strongest member first), each with its first ``members``."""
        self.refresh()
        if kind is not None and kind not in GROUP_KINDS:
            raise ReviewError(f"Unknown group kind {kind!r}.", code="bad_kind")
        limit = max(1, min(limit, PAGE_MAX))
        members = max(0, min(members, 60))
        cur = _parse_cursor(after)
        if self.ranked:
            g = select(
                review_group_rank.c.group_id,
                review_group_rank.c.kind,
                review_group_rank.c.sort_key.label("rank"),
            ).subquery()
            stmt = select(g.c.group_id, g.c.rank)
        else:
            ranks = self._ranks()
            g = (
                select(
                    grp.c.id.label("group_id"),
                    grp.c.kind.label("kind"),
                    func.coalesce(func.min(ranks.c.rank), 0).label("rank"),
                )
                .outerjoin(grp_member, grp_member.c.group_id == grp.c.id)
                .outerjoin(ranks, ranks.c.item_id == grp_member.c.item_id)
                .group_by(grp.c.id)
                .subquery()
            )
            stmt = select(g.c.group_id, g.c.rank)
        if kind is not None:
            stmt = stmt.where(g.c.kind == kind)
        if cur is not None:
            stmt = stmt.where(tuple_(g.c.rank, g.c.group_id) > tuple_(literal(cur[0]), literal(cur[1])))
        stmt = stmt.order_by(g.c.rank, g.c.group_id).limit(limit + 1)
        with self._read() as s:
            rows = s.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            gids = [r.group_id for r in rows]
            info = {
                r.id: r
                for r in s.execute(
                    select(grp.c.id, grp.c.kind, grp.c.label, grp.c.size).where(grp.c.id.in_(gids))
                )
            }
            done: dict[int, int] = {}
            if self.has_tables and gids:
                done = dict(
                    s.execute(
                        select(grp_member.c.group_id, func.count())
                        .join(review, review.c.item_id == grp_member.c.item_id)
                        .where(grp_member.c.group_id.in_(gids))
                        .group_by(grp_member.c.group_id)
                    ).all()
                )
            tops: dict[int, list[tuple[int, str]]] = {gid: [] for gid in gids}
            if members and gids:
                ranks = self._ranks()
                numbered = (
                    select(
                        grp_member.c.group_id,
                        grp_member.c.item_id,
                        grp_member.c.role,
                        func.row_number()
                        .over(
                            partition_by=grp_member.c.group_id, order_by=(ranks.c.rank, grp_member.c.item_id)
                        )
                        .label("n"),
                    )
                    .join(ranks, ranks.c.item_id == grp_member.c.item_id)
                    .where(grp_member.c.group_id.in_(gids))
                    .subquery()
                )
                for m in s.execute(
                    select(numbered.c.group_id, numbered.c.item_id, numbered.c.role)
                    .where(numbered.c.n <= members)
                    .order_by(numbered.c.group_id, numbered.c.n)
                ):
                    tops[m.group_id].append((m.item_id, m.role))
            cards = self._card_rows(s, {i for gid in gids for i, _ in tops[gid]})
        out = []
        for r in rows:
            gi = info[r.group_id]
            out.append(
                GroupCard(
                    id=gi.id,
                    kind=gi.kind,
                    label=gi.label,
                    size=gi.size,
                    rank=-int(r.rank),
                    categorised=int(done.get(gi.id, 0)),
                    members=[_card(cards[i], role) for i, role in tops[gi.id] if i in cards],
                )
            )
        nxt = _cursor(rows[-1].rank, rows[-1].group_id) if more and rows else None
        return Page(out, nxt)

    def counts(self) -> dict[str, int]:
        """Groups per kind and reviewable items (for the grid's tabs); kept until the scan's log moves."""
        key = self.heads()[0]
        cached = self._counts_cache
        if cached is not None and cached[0] == key:
            return dict(cached[1])
        with self._read() as s:
            out = {k: int(n) for k, n in s.execute(select(grp.c.kind, func.count()).group_by(grp.c.kind))}
            ranks = self._ranks()
            out["items"] = int(s.scalar(select(func.count()).select_from(ranks)) or 0)
        self._counts_cache = (key, dict(out))
        return out

    def item(self, item_id: int) -> ItemDetail:
        self.refresh()
        with self._read() as s:
            r = s.execute(select(item).where(item.c.id == item_id, REVIEWABLE)).first()
            if r is None:
                raise ReviewError(f"The case has no item {item_id} to review.", code="no_such_item")
            card = self._cards(s, [item_id])[0]
            groups = [
                (g.id, g.kind, g.label, g.role)
                for g in s.execute(
                    select(grp.c.id, grp.c.kind, grp.c.label, grp_member.c.role)
                    .join(grp_member, grp_member.c.group_id == grp.c.id)
                    .where(grp_member.c.item_id == item_id)
                    .order_by(grp.c.id)
                )
            ]
            found = s.execute(
                select(link)
                .where(or_(link.c.source_item == item_id, link.c.derived_item == item_id))
                .order_by(link.c.id)
            ).all()
            others = [int(lk.derived_item if lk.source_item == item_id else lk.source_item) for lk in found]
            names = (
                dict(s.execute(select(item.c.id, item.c.name).where(item.c.id.in_(others))).all())
                if others
                else {}
            )
            links = []
            for lk, other in zip(found, others, strict=True):
                role = (
                    "related"
                    if not lk.directed
                    else ("derivative" if lk.source_item == item_id else "source")
                )
                links.append((other, str(lk.kind), bool(lk.directed), role, str(names.get(other, ""))))
            matches = [
                {
                    "bank": m.bank,
                    "content_id": m.content_id,
                    "signal_type": m.signal_type,
                    "distance": m.distance,
                    "explanation": m.explanation,
                }
                for m in s.execute(select(bank_match).where(bank_match.c.item_id == item_id, _LIVE_HIT))
            ]
            notes = self._notes(s, "item", item_id)
            reveals = (
                [
                    Reveal(x.id, x.item_id, x.actor, x.at, x.seq)
                    for x in s.execute(
                        select(review_reveal)
                        .where(review_reveal.c.item_id == item_id)
                        .order_by(review_reveal.c.id)
                    )
                ]
                if self.has_tables
                else []
            )
        exif = r.exif or {}
        camera = " ".join(str(exif[k]) for k in ("Make", "Model") if exif.get(k)) or None
        return ItemDetail(
            card=card,
            path=r.path,
            folder=r.folder,
            size=r.size,
            sha256=r.sha256,
            md5=r.md5,
            pdq=r.pdq,
            pdq_quality=r.pdq_quality,
            duration_ms=r.duration_ms,
            camera=camera,
            error_message=r.error_message,
            groups=groups,
            links=links,
            matches=matches,
            notes=notes,
            reveals=reveals,
        )

    def group(self, group_id: int) -> GroupDetail:
        with self._read() as s:
            g = s.execute(select(grp).where(grp.c.id == group_id)).first()
            if g is None:
                raise ReviewError(f"The case has no group {group_id}.", code="no_such_group")
            done = 0
            if self.has_tables:
                done = int(
                    s.scalar(
                        select(func.count())
                        .select_from(grp_member)
                        .join(review, review.c.item_id == grp_member.c.item_id)
                        .where(grp_member.c.group_id == group_id)
                    )
                    or 0
                )
            return GroupDetail(
                id=g.id,
                kind=g.kind,
                label=g.label,
                size=g.size,
                details=dict(g.details or {}),
                categorised=done,
                notes=self._notes(s, "group", group_id),
            )

    def group_items(self, group_id: int) -> list[int]:
        with self._read() as s:
            if s.execute(select(grp.c.id).where(grp.c.id == group_id)).first() is None:
                raise ReviewError(f"The case has no group {group_id}.", code="no_such_group")
            return [
                int(i)
                for (i,) in s.execute(
                    select(grp_member.c.item_id)
                    .where(grp_member.c.group_id == group_id)
                    .order_by(grp_member.c.item_id)
                )
            ]

    def _notes(self, s: Session, target: str, target_id: int) -> list[Note]:
        if not self.has_tables:
            return []
        return [
            Note(n.id, n.target, n.target_id, n.author, n.at, n.text, n.seq)
            for n in s.execute(
                select(review_note)
                .where(review_note.c.target == target, review_note.c.target_id == target_id)
                .order_by(review_note.c.id)
            )
        ]

    def progress(self) -> Progress:
        """Categorised items per reviewer; kept until either log moves (a categorisation is an entry)."""
        key = self.heads()
        cached = self._progress_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        found = self._progress()
        self._progress_cache = (key, found)
        return found

    def _progress(self) -> Progress:
        with self._read() as s:
            ranks = self._ranks()
            total = int(s.scalar(select(func.count()).select_from(ranks)) or 0)
            if not self.has_tables:
                return Progress(total=total, categorised=0, by_reviewer=[], by_category={})
            by_reviewer = [
                (str(a), int(n))
                for a, n in s.execute(
                    select(review.c.reviewer, func.count())
                    .group_by(review.c.reviewer)
                    .order_by(func.count().desc(), review.c.reviewer)
                )
            ]
            by_category = reviewlog.counts_by_category(s)
        return Progress(
            total=total,
            categorised=sum(by_category.values()),
            by_reviewer=by_reviewer,
            by_category=by_category,
        )

    # --- thumbnails and reveals --------------------------------------------------------------

    def _row(self, s: Session, item_id: int) -> Any:
        r = s.execute(select(item).where(item.c.id == item_id, REVIEWABLE)).first()
        if r is None:
            raise ReviewError(f"The case has no item {item_id} to review.", code="no_such_item")
        return r

    def thumbnail(self, item_id: int) -> Tile:
        """The item's blurred greyscale tile (cached in memory and in the folder's cache, blurred only)."""
        with self._thumb_lock:
            hit = self._thumbs.get(item_id)
            if hit is not None:
                self._thumbs.move_to_end(item_id)
                return hit
            pending = self._pending.get(item_id)
        if pending is not None:
            with contextlib.suppress(Exception):
                return pending.result(timeout=30)
        with self._read() as s:
            row = self._row(s, item_id)
        tile = self._make_tiles([row])[item_id]
        return tile

    def prefetch(self, item_ids: Iterable[int]) -> None:
        """Make the tiles of a page in the background (one pass per archive), so the browser's
        requests for them find them made."""
        with self._thumb_lock:
            todo = [i for i in dict.fromkeys(item_ids) if i not in self._thumbs and i not in self._pending]
            if not todo:
                return
            futures: dict[int, Future[Tile]] = {i: Future() for i in todo}
            self._pending.update(futures)

        def work() -> None:
            try:
                with self._read() as s:
                    rows = s.execute(select(item).where(item.c.id.in_(todo), REVIEWABLE)).all()
                made = self._make_tiles(rows)
                for i, f in futures.items():
                    if i in made:
                        f.set_result(made[i])
                    else:
                        f.set_exception(ReviewError("no such item", code="no_such_item"))
            except BaseException as exc:  # a failed prefetch leaves each request to make its own
                for f in futures.values():
                    if not f.done():
                        f.set_exception(exc)
            finally:
                with self._thumb_lock:
                    for i in futures:
                        self._pending.pop(i, None)

        try:
            self._pool.submit(work)
        except RuntimeError:  # shut down
            with self._thumb_lock:
                for i in futures:
                    self._pending.pop(i, None)

    def _cache_path(self, sha256: str) -> Path:
        return self.folder / CACHE_FOLDER / "thumbs" / sha256[:2] / f"{sha256}-{thumbnails.THUMB}.jpg"

    def _make_tiles(self, rows: Sequence[Any]) -> dict[int, Tile]:
        out: dict[int, Tile] = {}
        to_read = []
        for r in rows:
            if r.sha256 and self.service.disk_cache:
                path = self._cache_path(r.sha256)
                with contextlib.suppress(OSError):
                    out[r.id] = Tile(path.read_bytes(), "image/jpeg")
                    continue
            to_read.append(r)
        for r, data, problem in self.content.read_items(to_read):
            if data is None:
                assert problem is not None
                tile = self._placeholder(problem.code, problem.message)
            else:
                try:
                    pic = thumbnails.blurred(data, kind=r.kind, limits=self.limits)
                except thumbnails.UndecodableError as exc:
                    tile = self._placeholder(r.error_code or exc.code, r.error_message or exc.message)
                else:
                    tile = Tile(pic.data, pic.media_type)
                    if r.sha256 and self.service.disk_cache and self.writable:
                        self._store_cached(self._cache_path(r.sha256), pic.data)
            out[r.id] = tile
        self._log_mismatches()
        with self._thumb_lock:
            for i, tile in out.items():
                if i not in self._thumbs:
                    self._thumbs[i] = tile
                    self._thumb_bytes += len(tile.data)
            while self._thumb_bytes > self.service.thumb_memory_bytes and self._thumbs:
                _, old = self._thumbs.popitem(last=False)
                self._thumb_bytes -= len(old.data)
        return out

    @staticmethod
    def _placeholder(code: str, message: str) -> Tile:
        pic = thumbnails.placeholder()
        return Tile(pic.data, pic.media_type, problem=code, message=message)

    @staticmethod
    def _store_cached(path: Path, data: bytes) -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)

    def _log_mismatches(self) -> None:
        """Content read again that no longer has its recorded SHA-256: a review-log event per item."""
        found, self.content.mismatches[:] = list(self.content.mismatches), []
        if not found or not self.has_tables or not self.writable:
            return
        with contextlib.suppress(TriageError), self._writing() as s:
            log = self._log(s)
            for item_id, recorded, now in found:
                log.append(
                    actor="takeback",
                    action="item.hash_mismatch",
                    subject=f"item:{item_id}",
                    details={"recorded_sha256": recorded, "read_sha256": now},
                )

    def reveal(self, item_id: int, *, actor: str) -> Revealed:
        """One item, clear and in colour, for ``actor``: logged (review table and review log) before
        the pixels are returned; never cached, never written to disk. No bulk reveal exists."""
        check_actor(actor)
        self._can_write()
        with self._read() as s:
            row = self._row(s, item_id)
        try:
            data = self.content.file_bytes(row) if row.parent_id is None else self.content.member_bytes(row)
        except ContentUnavailableError as exc:
            self._log_mismatches()
            raise ReviewError(f"Item {item_id} cannot be shown: {exc.message}", code=exc.code) from None
        try:
            pic = thumbnails.revealed(data, kind=row.kind, limits=self.limits)
        except thumbnails.UndecodableError as exc:
            raise ReviewError(
                f"Item {item_id} has no picture that decodes: {exc.message}", code=exc.code
            ) from None
        at = utcnow()
        with self._writing() as s:
            reveal_id = int(s.scalar(select(func.coalesce(func.max(review_reveal.c.id), 0))) or 0) + 1
            entry = self._log(s).append(
                actor=actor,
                action=reviewlog.REVEALED,
                subject=f"item:{item_id}",
                details={"reveal": reveal_id, "sha256": row.sha256, "record_sha256": row.record_sha256},
                at=at,
            )
            s.execute(
                insert(review_reveal).values(
                    id=reveal_id, item_id=item_id, actor=actor, at=entry.at, seq=entry.seq
                )
            )
        return Revealed(pic, Reveal(reveal_id, item_id, actor, entry.at, entry.seq))

    # --- changes ---------------------------------------------------------------------------------

    def _check_items(self, s: Session, item_ids: Sequence[int]) -> list[int]:
        ids = sorted({int(i) for i in item_ids})
        if not ids:
            raise ReviewError("Select at least one item.", code="empty_selection")
        if len(ids) > MAX_SELECTION:
            raise ReviewError(
                f"{len(ids):,} items selected; one action takes at most {MAX_SELECTION:,}.",
                code="selection_too_large",
            )
        found: set[int] = set()
        for i in range(0, len(ids), 900):
            found.update(
                int(x)
                for (x,) in s.execute(select(item.c.id).where(item.c.id.in_(ids[i : i + 900]), REVIEWABLE))
            )
        missing = [i for i in ids if i not in found]
        if missing:
            raise ReviewError(
                f"The case has no item {missing[0]} to review"
                + (f" (and {len(missing) - 1:,} more)." if len(missing) > 1 else "."),
                code="no_such_item",
            )
        return ids

    def categorise(self, item_ids: Sequence[int], category: str | None, *, actor: str) -> int:
        """Set (or with ``None`` clear) the category of items; returns how many changed. One
        review-log entry per 1,000 items, in the transaction that changes their rows."""
        check_actor(actor)
        if category is not None and category not in self.categories:
            raise ReviewError(
                f"Unknown category {category!r}; this case's categories are {', '.join(self.categories)}.",
                code="bad_category",
            )
        self._can_write()
        with self._writing() as s:
            ids = self._check_items(s, item_ids)
            current: dict[int, str] = {}
            for i in range(0, len(ids), 900):
                current.update(
                    (int(a), str(b))
                    for a, b in s.execute(
                        select(review.c.item_id, review.c.category).where(
                            review.c.item_id.in_(ids[i : i + 900])
                        )
                    )
                )
            changed = [i for i in ids if current.get(i) != category]
            log = self._log(s)
            for start in range(0, len(changed), ITEMS_PER_ENTRY):
                chunk = changed[start : start + ITEMS_PER_ENTRY]
                entry = log.append(
                    actor=actor,
                    action=reviewlog.CATEGORISED,
                    subject=f"item:{chunk[0]}" if len(chunk) == 1 else None,
                    details={"category": category, "items": chunk, "count": len(chunk)},
                )
                if category is None:
                    s.execute(delete(review).where(review.c.item_id.in_(chunk)))
                else:
                    stmt = sqlite_insert(review).values(
                        [
                            {
                                "item_id": i,
                                "category": category,
                                "reviewer": actor,
                                "at": entry.at,
                                "seq": entry.seq,
                            }
                            for i in chunk
                        ]
                    )
                    s.execute(
                        stmt.on_conflict_do_update(
                            index_elements=[review.c.item_id],
                            set_={
                                "category": stmt.excluded.category,
                                "reviewer": stmt.excluded.reviewer,
                                "at": stmt.excluded.at,
                                "seq": stmt.excluded.seq,
                            },
                        )
                    )
            return len(changed)

    def mark_not_relevant(self, item_ids: Sequence[int], *, actor: str) -> int:
        if NOT_RELEVANT not in self.categories:
            raise ReviewError(
                "This case's categories have no 'not_relevant'; categorise the items instead.",
                code="bad_category",
            )
        return self.categorise(item_ids, NOT_RELEVANT, actor=actor)

    def add_note(self, target: Literal["item", "group"], target_id: int, note: str, *, actor: str) -> Note:
        """A note on an item or a group; the review log holds its SHA-256, the table its text."""
        check_actor(actor)
        clean = check_note(note)
        self._can_write()
        if target not in ("item", "group"):
            raise ReviewError("A note is on an item or a group.", code="bad_note")
        with self._writing() as s:
            if target == "item":
                self._row(s, target_id)
            elif s.execute(select(grp.c.id).where(grp.c.id == target_id)).first() is None:
                raise ReviewError(f"The case has no group {target_id}.", code="no_such_group")
            note_id = int(s.scalar(select(func.coalesce(func.max(review_note.c.id), 0))) or 0) + 1
            entry = self._log(s).append(
                actor=actor,
                action=reviewlog.NOTE_ADDED,
                subject=f"{target}:{target_id}",
                details={"note": note_id, "sha256": reviewlog.note_sha256(clean), "chars": len(clean)},
            )
            s.execute(
                insert(review_note).values(
                    id=note_id,
                    target=target,
                    target_id=target_id,
                    author=actor,
                    at=entry.at,
                    text=clean,
                    seq=entry.seq,
                )
            )
        return Note(note_id, target, target_id, actor, entry.at, clean, entry.seq)

    def notes(self, target: Literal["item", "group"], target_id: int) -> list[Note]:
        with self._read() as s:
            return self._notes(s, target, target_id)

    # --- bulk actions ----------------------------------------------------------------------------

    def add_group_to_bank(
        self,
        db: Database,
        group_id: int,
        *,
        bank: str,
        actor: str,
        all_items: bool = False,
        include_low_quality: bool = False,
    ) -> CaseBankImport:
        """The group's flagged fingerprints into ``bank``, exactly as ``takeback bank import
        --from-case DIR --group N`` does (the same service), logged in the review log."""
        check_actor(actor)
        self._can_write()
        with self._read() as s:
            if s.execute(select(grp.c.id).where(grp.c.id == group_id)).first() is None:
                raise ReviewError(f"The case has no group {group_id}.", code="no_such_group")
        done = import_into_bank(
            db,
            self.case,
            bank=bank,
            group=group_id,
            actor=actor,
            all_items=all_items,
            include_low_quality=include_low_quality,
        )
        with self._writing() as s:
            self._log(s).append(
                actor=actor,
                action=reviewlog.BANK_IMPORTED,
                subject=f"group:{group_id}",
                details=done.custody_details(),
            )
        return done

    def export_hashes(
        self, item_ids: Sequence[int], *, fmt: Literal["csv", "json"], actor: str
    ) -> HashExport:
        """The selection's hashes (no paths, no names, no pixels) as CSV or JSON text, logged with
        its SHA-256 and row count."""
        check_actor(actor)
        if fmt not in ("csv", "json"):
            raise ReviewError("Export as csv or json.", code="bad_format")
        self._can_write()
        with self._read() as s:
            ids = self._check_items(s, item_ids)
            rows: list[Any] = []
            for i in range(0, len(ids), 900):
                stmt = select(
                    item.c.id,
                    item.c.kind,
                    item.c.sha256,
                    item.c.md5,
                    item.c.sha1,
                    item.c.pdq,
                    item.c.pdq_quality,
                ).where(item.c.id.in_(ids[i : i + 900]))
                if self.has_tables:
                    stmt = stmt.add_columns(review.c.category).outerjoin(
                        review, review.c.item_id == item.c.id
                    )
                else:
                    stmt = stmt.add_columns(literal(None).label("category"))
                rows.extend(s.execute(stmt.order_by(item.c.id)).all())
        fields = ("id", "kind", "sha256", "md5", "sha1", "pdq", "pdq_quality", "category")
        records = [{f: getattr(r, f) for f in fields} for r in rows]
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            for rec in records:
                w.writerow({k: "" if v is None else v for k, v in rec.items()})
            body, media_type = buf.getvalue(), "text/csv; charset=utf-8"
        else:
            body = json.dumps({"case": self.case_id, "items": records}, ensure_ascii=False, indent=1) + "\n"
            media_type = "application/json"
        sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
        with self._writing() as s:
            entry = self._log(s).append(
                actor=actor,
                action=reviewlog.EXPORTED,
                details={"format": fmt, "rows": len(records), "sha256": sha},
            )
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        return HashExport(
            body, media_type, f"hashes-{self.case_id}-{stamp}.{fmt}", len(records), sha, entry.seq
        )


def _card(fields: tuple[Any, ...], role: str | None) -> ItemCard:
    card = ItemCard(*fields)
    card.role = role
    return card


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


# --- the background verifier --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """One check of one log: the head it saw, what it found, when."""

    head: str | None
    problems: tuple[Problem, ...]
    entries: int
    at: datetime
    started: float
    finished: float


def _check_in_child(folder: str, case_id: str) -> tuple[str | None, list[tuple[int | None, str, str]], int]:
    """The scan log's check in a worker process (the check is CPU-bound Python: run in a thread it
    would hold the GIL from every page for seconds). Plain values out, for pickling."""
    path = Path(folder)
    engine = _engine(path / DB_NAME, read_only=True)
    try:
        case = CaseDB(folder=path, engine=engine, case_id=case_id, read_only=True)
        v = verify_case(case, review=False)
        return v.head, [(p.seq, p.code, p.message) for p in v.problems], v.entries
    finally:
        engine.dispose()


_POOL_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return _POOL


def _reset_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None


class _Check:
    """One log's check, run in the background when its head moved (at most every ``interval``
    seconds) or its result is older than ``max_age`` (a record can be changed behind a log's back)."""

    def __init__(
        self, run: Callable[[], tuple[str | None, list[Problem], int]], interval: float, max_age: float
    ):
        self._run_check = run
        self.interval = interval
        self.max_age = max_age
        self.cond = threading.Condition()
        self.result: _Outcome | None = None
        self.running = False
        self.stopped = False

    def due(self, head: str | None, now: float) -> bool:
        r = self.result
        if r is None or now - r.finished > self.max_age:
            return True
        return head != r.head and now - r.finished >= self.interval

    def poke(self, head: str | None, *, force: bool = False) -> None:
        with self.cond:
            if self.stopped or self.running or not (force or self.due(head, time.monotonic())):
                return
            self.running = True
        threading.Thread(target=self._run, name="review-verify", daemon=True).start()

    def _run(self) -> None:
        started = time.monotonic()
        outcome: _Outcome | None = None
        try:
            try:
                head, problems, entries = self._run_check()
            except Exception as exc:  # an unreadable database is a failed verification
                head, entries = None, 0
                problems = [Problem(None, "verify_error", f"The case could not be verified: {exc}")]
            outcome = _Outcome(head, tuple(problems), entries, utcnow(), started, time.monotonic())
        finally:
            with self.cond:
                self.running = False
                if outcome is not None:
                    self.result = outcome
                self.cond.notify_all()


class _Verifier:
    """The case's verification, as :func:`verify_case` does it, in two parts: the scan's log
    (seconds at 20,000 items; in a worker process; re-run when the scan's log grew) and the review
    log (milliseconds; in a thread; re-run after changes). Results are kept keyed by each log's
    head, so a page asks for them at the cost of two indexed reads."""

    def __init__(self, review: CaseReview) -> None:
        self.review = review
        self.scan = _Check(self._scan, VERIFY_MIN_INTERVAL_S, VERIFY_MAX_AGE_S)
        self.log = _Check(self._review, REVIEW_VERIFY_MIN_INTERVAL_S, VERIFY_MAX_AGE_S)

    def _scan(self) -> tuple[str | None, list[Problem], int]:
        folder, case_id = str(self.review.folder), self.review.case_id
        try:
            head, found, entries = _pool().submit(_check_in_child, folder, case_id).result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): once more, in a new one
            _reset_pool()
            head, found, entries = _pool().submit(_check_in_child, folder, case_id).result()
        return head, [Problem(seq, code, message) for seq, code, message in found], entries

    def _review(self) -> tuple[str | None, list[Problem], int]:
        v = verify_case(self.review.case, scan=False)
        return v.review_head, list(v.problems), v.review_entries or 0

    def stop(self) -> None:
        for c in (self.scan, self.log):
            with c.cond:
                c.stopped = True
                c.cond.notify_all()

    def poke(self) -> tuple[str | None, str | None]:
        heads = self.review.heads()
        self.scan.poke(heads[0])
        self.log.poke(heads[1])
        return heads

    def state(self) -> Integrity:
        heads = self.poke()
        with self.scan.cond:
            scan = self.scan.result
        with self.log.cond:
            log = self.log.result
        problems = [*(scan.problems if scan else ()), *(log.problems if log else ())]
        first = (
            min(problems, key=lambda p: (p.seq is None, p.log != "scan", p.seq or 0)) if problems else None
        )
        done = [r for r in (scan, log) if r is not None]
        common: dict[str, Any] = {
            "checked_at": min((r.at for r in done), default=None),
            "entries": scan.entries if scan else 0,
            "review_entries": log.entries if log else 0,
            "stale": (scan is not None and scan.head != heads[0])
            or (log is not None and log.head != heads[1]),
        }
        if first is not None:
            return Integrity(
                status="failed",
                where=first.where,
                log=first.log,
                seq=first.seq,
                code=first.code,
                message=first.message,
                **common,
            )
        if scan is None or log is None:
            return Integrity(status="verifying", **common)
        return Integrity(status="verified", **common)

    def wait(self, timeout: float) -> Integrity:
        """Wait for checks that started after this call, of the logs as they are then."""
        asked = time.monotonic()
        deadline = asked + timeout
        for check, index in ((self.scan, 0), (self.log, 1)):
            while time.monotonic() < deadline:
                head = self.review.heads()[index]
                with check.cond:
                    r = check.result
                    if r is not None and r.started >= asked and r.head == head:
                        break
                    running = check.running
                if not running:
                    check.poke(head, force=True)
                with check.cond:
                    check.cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        return self.state()


__all__ = [
    "DEFAULT_CATEGORIES",
    "MAX_NOTE_CHARS",
    "NOT_RELEVANT",
    "CaseReview",
    "GroupCard",
    "GroupDetail",
    "HashExport",
    "Integrity",
    "ItemCard",
    "ItemDetail",
    "Note",
    "Page",
    "Progress",
    "Reveal",
    "Revealed",
    "ReviewError",
    "ReviewService",
    "Tile",
    "check_note",
]
