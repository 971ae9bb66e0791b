"""Open, create and lock a scan case folder; its custody log lives in the same SQLite file.

A case folder holds ``case.db`` (work queue, results, groups, custody), the report and exports.
One scan at a time: an exclusive ``flock`` on ``DIR/.scan.lock`` (released by the kernel when the
process dies, so ``kill -9`` never leaves a stale lock behind).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Table, create_engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from takeback.evidence.custody import CustodyLog, CustodyRecord, SqlCustodyStore
from takeback.evidence.signing import Signer
from takeback.triage import errors as codes
from takeback.triage.errors import TriageError
from takeback.triage.models import CASE_METADATA, SCHEMA_VERSION, case_meta

DB_NAME = "case.db"
LOCK_NAME = ".scan.lock"
KIND = "takeback-scan-case"

_APPEND_ONLY = (
    "CREATE TRIGGER IF NOT EXISTS custody_entry_no_update BEFORE UPDATE ON custody_entry "
    "BEGIN SELECT RAISE(ABORT, 'custody entries are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS custody_entry_no_delete BEFORE DELETE ON custody_entry "
    "BEGIN SELECT RAISE(ABORT, 'custody entries are append-only'); END",
)


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL or the OS's ENOSPC/EDQUOT, however it was wrapped."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(cur).lower():
            return True
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return False


def disk_full_error(folder: Path) -> TriageError:
    return TriageError(
        f"The disk holding the case folder {folder} is full. The scan stopped cleanly: free some space "
        "and run the same command again to resume where it stopped.",
        code=codes.DISK_FULL,
    )


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def is_case_dir(folder: Path) -> bool:
    return (folder / DB_NAME).is_file()


@dataclass
class CaseDB:
    """A case folder's database. ``case_id`` is random; the custody log is ``scan:<case_id>``."""

    folder: Path
    engine: Engine
    case_id: str
    read_only: bool = False
    _lock_fd: int | None = None

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def log_id(self) -> str:
        return f"scan:{self.case_id}"

    # --- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path, *, create: bool) -> CaseDB:
        """Open (and with ``create``, make) the case at ``folder``; takes the scan lock."""
        folder = folder.absolute()
        exists = is_case_dir(folder)
        if not exists and not create:
            raise TriageError(
                f"{folder} is not a scan case folder (it has no {DB_NAME}).", code=codes.NOT_A_CASE
            )
        if not exists:
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full_error(folder) from None
                raise TriageError(
                    f"Could not create the case folder {folder}: {exc.strerror or exc}.",
                    code=codes.NOT_A_CASE,
                ) from None
        lock_fd = cls._take_lock(folder)
        engine = create_engine(f"sqlite:///{folder / DB_NAME}")
        event.listen(engine, "connect", _pragmas)
        try:
            case_id = cls._prepare(engine, folder, new=not exists)
        except BaseException:
            engine.dispose()
            os.close(lock_fd)
            raise
        return cls(folder=folder, engine=engine, case_id=case_id, _lock_fd=lock_fd)

    @classmethod
    def open_read_only(cls, folder: Path) -> CaseDB:
        """For ``case verify``: no lock, no writes (works on a copy on read-only media too)."""
        folder = folder.absolute()
        if not is_case_dir(folder):
            raise TriageError(
                f"{folder} is not a scan case folder (it has no {DB_NAME}).", code=codes.NOT_A_CASE
            )
        path = folder / DB_NAME
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        try:
            with engine.connect() as c:
                c.execute(text("SELECT 1 FROM case_meta LIMIT 1"))
        except OperationalError:
            engine.dispose()  # e.g. the WAL cannot be opened on read-only media
            engine = create_engine(f"sqlite:///file:{path}?immutable=1&uri=true")
        try:
            with engine.connect() as c:
                row = c.execute(select(case_meta.c.value).where(case_meta.c.key == "case_id")).first()
        except OperationalError as exc:
            engine.dispose()
            raise TriageError(
                f"{path} cannot be read as a scan case: {exc.orig}", code=codes.NOT_A_CASE
            ) from None
        if row is None:
            engine.dispose()
            raise TriageError(f"{path} has no case id; it is not a scan case.", code=codes.NOT_A_CASE)
        return cls(folder=folder, engine=engine, case_id=str(row[0]), read_only=True)

    @staticmethod
    def _take_lock(folder: Path) -> int:
        try:
            fd = os.open(folder / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(folder) from None
            raise TriageError(f"Could not open {folder / LOCK_NAME}: {exc.strerror or exc}.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise TriageError(
                f"Another takeback process is working on the case folder {folder}; wait for it to finish "
                "(or stop it) and run this again.",
                code=codes.CASE_BUSY,
            ) from None
        return fd

    @staticmethod
    def _prepare(engine: Engine, folder: Path, *, new: bool) -> str:
        try:
            with engine.begin() as c:
                if not new:
                    got = c.execute(
                        select(case_meta.c.key, case_meta.c.value).where(
                            case_meta.c.key.in_(("kind", "schema", "case_id"))
                        )
                    ).all()
                    meta = {k: v for k, v in got}
                    if meta.get("kind") != KIND:
                        raise TriageError(
                            f"{folder / DB_NAME} is not a scan case database.", code=codes.NOT_A_CASE
                        )
                    if int(meta.get("schema", 0)) > SCHEMA_VERSION:
                        raise TriageError(
                            f"The case at {folder} was written by a newer takeback (schema "
                            f"{meta.get('schema')}); update takeback to continue it.",
                            code=codes.CASE_NEWER,
                        )
                    return str(meta["case_id"])
                CASE_METADATA.create_all(c)
                cast(Table, CustodyRecord.__table__).create(c, checkfirst=True)
                for ddl in _APPEND_ONLY:
                    c.execute(text(ddl))
                case_id = uuid.uuid4().hex[:16]
                c.execute(
                    case_meta.insert(),
                    [
                        {"key": "kind", "value": KIND},
                        {"key": "schema", "value": SCHEMA_VERSION},
                        {"key": "case_id", "value": case_id},
                    ],
                )
                return case_id
        except OperationalError as exc:
            if is_disk_full(exc):
                raise disk_full_error(folder) from None
            raise

    # --- use ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits when the block succeeds, rolls back when it raises."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def custody(self, session: Session, signer: Signer) -> CustodyLog:
        return CustodyLog(SqlCustodyStore(session, self.log_id), signer)

    def get_meta(self, session: Session, key: str, default: Any = None) -> Any:
        row = session.execute(select(case_meta.c.value).where(case_meta.c.key == key)).first()
        return default if row is None else row[0]

    def set_meta(self, session: Session, key: str, value: Any) -> None:
        stmt = case_meta.update().where(case_meta.c.key == key).values(value=value)
        if cast(CursorResult[Any], session.execute(stmt)).rowcount == 0:
            session.execute(case_meta.insert().values(key=key, value=value))

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> CaseDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
