"""A real takeback service for the web tests: Uvicorn on a free loopback port, in a thread.

One server per test module and database backend (SQLite always; PostgreSQL when
``TAKEBACK_TEST_DATABASE_URL`` is set), so tests talk HTTP exactly as clients do. Tests that need a
clean slate use unique bank names; tests that kill the server start their own subprocess.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from takeback.auth import Role, create_key, resolve_banks
from takeback.banks.service import bank_info
from takeback.config import Settings
from takeback.store import Database, open_database
from takeback.web.app import create_app
from takeback.web.protocol import GuardedHttpToolsProtocol
from tests.conftest import PG_URL_ENV


class ServerThread:
    """Uvicorn serving ``app`` on an already-bound socket, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            http=GuardedHttpToolsProtocol,  # as `takeback serve` runs it
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Service:
    url: str
    db_url: str
    settings: Settings
    admin: str
    db: Database
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)
        self.clients.append(c)
        return c

    def key(self, role: Role | str, banks: list[str] | None = None, **kw: Any) -> str:
        """A new key made through the service layer (as ``takeback keys create`` does)."""
        with self.db.session() as s:
            ids = resolve_banks(s, names=banks, role=role)
            return create_key(s, role=role, actor="test", bank_ids=ids, **kw).token

    def entries(self, bank: str) -> int:
        """How many entries a bank holds, read through the service layer (HMA's bank record has no count)."""
        with self.db.session() as s:
            return bank_info(s, name=bank).entries

    def bank(self, prefix: str = "bank", **body: Any) -> str:
        """A new bank with a unique name (HMA's rule: UPPER_WITH_UNDERSCORE), created over HTTP."""
        name = f"{prefix.upper().replace('-', '_')}_{uuid.uuid4().hex[:8].upper()}"
        r = self.client(self.admin).post("/c/banks", json={"name": name, **body})
        assert r.status_code == 201, r.text
        return name


def _wait_ready(url: str, seconds: float = 180) -> None:
    """Until ``/status`` says ready: the index loads in the background, and the first load in a
    process compiles the search kernels (seconds, holding the GIL, so a request may time out)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/status", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def _clone_pg(admin: str, template: str) -> tuple[str, str]:
    name = f"tb_web_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    eng.dispose()
    return name, make_url(admin).set(database=name).render_as_string(hide_password=False)


def _drop_pg(admin: str, name: str) -> None:
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@contextmanager
def running_service(
    backend: str,
    folder: Path,
    sqlite_template: Path,
    pg_template: tuple[str, str] | None,
    **settings: Any,
) -> Iterator[Service]:
    """A served store of its own (a copy of the migrated template) with an admin key, taken down
    after: the one way the web tests start a service in-process."""
    pg_name: str | None = None
    if backend == "sqlite":
        path = folder / "takeback.db"
        shutil.copy(sqlite_template, path)
        db_url = f"sqlite:///{path}"
    else:
        if pg_template is None:
            pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
        pg_name, db_url = _clone_pg(*pg_template)
    cfg = Settings(data_dir=folder / "data", database_url=db_url, **settings)
    db = open_database(db_url)
    with db.session() as s:
        admin = create_key(s, role=Role.ADMIN, actor="test", name="test admin").token
    server = ServerThread(create_app(cfg))
    server.start()
    svc = Service(f"http://127.0.0.1:{server.port}", db_url, cfg, admin, db)
    _wait_ready(svc.url)
    try:
        yield svc
    finally:
        for c in svc.clients:
            c.close()
        server.stop()
        db.dispose()
        if pg_name is not None and pg_template is not None:
            _drop_pg(pg_template[0], pg_name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _sqlite_template: Path,
    _pg_template: tuple[str, str] | None,
) -> Iterator[Service]:
    with running_service(
        request.param,
        tmp_path_factory.mktemp("service"),
        _sqlite_template,
        _pg_template,
        max_upload_bytes=2 * 1024 * 1024,
        api_key_cache_seconds=0.5,
        body_timeout_seconds=1.0,
    ) as svc:
        yield svc
