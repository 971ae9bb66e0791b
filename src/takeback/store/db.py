"""Engine, sessions and migrations. One :class:`Database` per process per URL.

Why WAL and a busy timeout on SQLite: readers (a running server, a lookup) must not block a writer
(an import), and a second process holding the write lock should make us wait and retry, then fail
with a clear message rather than "database is locked" at the first touch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from takeback.config import Settings
from takeback.errors import TakebackError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5_000
PG_LOCK_TIMEOUT_MS = 10_000


class StoreError(TakebackError):
    code = "store_error"


class Base(DeclarativeBase):
    """Declarative base for every table in every domain package."""


def database_url(settings: Settings) -> str:
    """The configured URL, or a SQLite file in the data dir."""
    if settings.database_url:
        return settings.database_url
    path = settings.ensure_data_dir() / "takeback.db"
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A lock wait must end: PostgreSQL otherwise queues a writer behind a long import for ever.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS}"},
    )


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("takeback.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's busy error, or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == "55P03":
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


@dataclass
class Database:
    """An engine plus a session factory; the caller owns each unit of work."""

    url: str
    engine: Engine
    sessionmaker: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        with self.sessionmaker() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def run(self, work: Callable[[Session], T], *, retries: int = 3) -> T:
        """Run ``work`` in one transaction, retrying while another process holds the write lock."""
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                with self.session() as s:
                    return work(s)
            except OperationalError as exc:
                if not is_locked_error(exc):
                    raise
                if attempt == retries:
                    raise StoreError(
                        "The database is locked by another takeback process and stayed locked; "
                        "try again when that process has finished.",
                        code="database_locked",
                    ) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        self.engine.dispose()


def migrate(engine: Engine) -> None:
    """Bring the schema up to date (every branch head: domains migrate independently)."""
    command.upgrade(_alembic_config(engine), "heads")


def open_database(url: str, *, migrate_schema: bool = True) -> Database:
    """Open (and by default migrate) the database at ``url``."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if migrate_schema:
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            if is_locked_error(exc):
                raise StoreError(
                    "The database is locked by another process; could not migrate it.", code="database_locked"
                ) from None
            raise StoreError(
                f"Could not open the database: {exc.orig}", code="database_unavailable"
            ) from None
    return Database(url=url, engine=engine, sessionmaker=sessionmaker(engine, expire_on_commit=False))
