"""Shared fixtures: where the read-only reference data lives, and small image factories."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from takeback.store import Database

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TAKEBACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
# The PDQ search kernels compile once (~5 s) into the data dir; tests make hundreds of data dirs,
# so every test process and the servers and CLIs they start share one numba cache instead.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "takeback-tests-numba"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (read-only: copy before writing)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pdq_data(shared_data: Path) -> Path:
    return shared_data / "pdq"


def hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def synthetic_photo(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A benign, detailed RGB test picture (gradients, shapes and noise); never a real photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(10, 80, 2)
    base = 110 + 60 * np.sin(x / fx + seed) + 50 * np.cos(y / fy)
    img = np.stack([base + rng.normal(0, 12, base.shape) + 30 * c for c in range(3)], axis=-1)
    for _ in range(6):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(20, max(21, width // 4))
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        img[mask] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str = "JPEG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


# --- databases: every store test runs on SQLite and, when configured, PostgreSQL -----------------

PG_URL_ENV = "TAKEBACK_TEST_DATABASE_URL"


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    from takeback.store import open_database

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[tuple[str, str] | None]:
    """A migrated PostgreSQL template database; tests clone it with CREATE DATABASE ... TEMPLATE."""
    admin = _pg_admin_url()
    if admin is None:
        yield None
        return
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from takeback.store import open_database

    name = f"tb_tmpl_{uuid.uuid4().hex[:10]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    db = open_database(url)
    db.dispose()
    yield admin, name
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _pg_template: tuple[str, str] | None,
) -> Iterator[str]:
    """A fresh, migrated database URL: SQLite always, PostgreSQL when TAKEBACK_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        import shutil

        path = tmp_path / "takeback.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if _pg_template is None:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin, template = _pg_template
    name = f"tb_test_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    from takeback.store import open_database

    database = open_database(db_url)
    yield database
    database.dispose()
