"""Known-file lists: files whose hash is on one are counted as ``known`` and not analysed.

Formats: ``md5sum`` / ``sha1sum`` / ``sha256sum`` output (``<hex>  name`` or ``<hex> *name``), bare
hashes one per line, and NIST NSRL RDS v3 SQLite databases (table ``FILE`` with ``sha256``, ``sha1``
and ``md5`` columns, upper-case hex). Text lists are copied into ``case.db`` (so a resumed or
re-verified case does not depend on the list file still being there); an NSRL database, tens of
gigabytes, is queried in place, read-only, through whichever hash column it has an index on.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from takeback.media.walk import display_path
from takeback.triage import errors as codes
from takeback.triage.errors import TriageError
from takeback.triage.models import known_hash, known_list
from takeback.triage.tasks.base import KnownSource

_HEX = re.compile(r"^\\?([0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})(?:\s+\*?.*)?$")
_ALG = {32: "md5", 40: "sha1", 64: "sha256"}
_BATCH = 5000
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class ListSpec:
    """A list as given on the command line, identified for custody and for resuming."""

    path: str
    name: str
    format: str  # md5 | sha1 | sha256 | mixed | nsrl
    sha256: str  # of the file (text lists); of size + mtime + VERSION rows (NSRL: too large to hash)
    column: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "format": self.format,
            "sha256": self.sha256,
            "column": self.column,
        }


def _bad(path: str, why: str) -> TriageError:
    return TriageError(f"The known-file list {path} cannot be used: {why}", code=codes.EXCLUSION_LIST)


def _nsrl_column(conn: sqlite3.Connection, path: str) -> str:
    tables = {
        r[0].upper() for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
    }
    if "FILE" not in tables:
        raise _bad(path, "it is a SQLite database without a FILE table (not an NSRL RDS v3 database).")
    cols = {r[1].lower() for r in conn.execute("PRAGMA table_info(FILE)")}
    indexed: set[str] = set()
    for idx in conn.execute("PRAGMA index_list(FILE)").fetchall():
        first = conn.execute(f"PRAGMA index_info('{idx[1]}')").fetchone()
        if first is not None:
            indexed.add(str(first[2]).lower())
    for col in ("sha256", "sha1", "md5"):
        if col in cols and col in indexed:
            return col
    raise _bad(
        path,
        "its FILE table has no index on sha256, sha1 or md5, so every lookup would read the whole database. "
        "Add one to a copy (sqlite3 COPY.db 'CREATE INDEX file_sha256 ON FILE(sha256)') and give the copy.",
    )


def describe(path: str) -> ListSpec:
    """Identify a list file (format, identity); raises :class:`TriageError` when it is unusable."""
    shown = display_path(os.path.abspath(path))
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise _bad(shown, f"{exc.strerror or exc}.") from None
    if head == SQLITE_MAGIC:
        try:
            conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
            try:
                column = _nsrl_column(conn, shown)
                version = conn.execute("SELECT * FROM VERSION").fetchall() if _has(conn, "VERSION") else []
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise _bad(shown, f"the SQLite database cannot be read ({exc}).") from None
        st = os.stat(path)
        ident = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:{version!r}".encode()).hexdigest()
        return ListSpec(os.path.abspath(path), Path(path).name, "nsrl", ident, column)
    h = hashlib.sha256()
    algs: set[str] = set()
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            h.update(raw)
            alg = _parse_line(raw, shown, n)
            if alg:
                algs.add(alg[0])
    if not algs:
        raise _bad(shown, "it holds no MD5, SHA-1 or SHA-256 hashes.")
    fmt = algs.pop() if len(algs) == 1 else "mixed"
    return ListSpec(os.path.abspath(path), Path(path).name, fmt, h.hexdigest())


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE upper(name) = ?", (table,)).fetchone() is not None


def _parse_line(raw: bytes, shown: str, n: int) -> tuple[str, bytes] | None:
    text = raw.decode("utf-8", "replace").strip()
    if not text or text.startswith("#"):
        return None
    m = _HEX.match(text)
    if not m:
        raise _bad(
            shown, f"line {n} is not a hash list line (md5sum/sha1sum/sha256sum format or one hash per line)."
        )
    value = m.group(1)
    return _ALG[len(value)], bytes.fromhex(value)


def _lines(path: str, shown: str) -> Iterator[tuple[str, bytes]]:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            parsed = _parse_line(raw, shown, n)
            if parsed:
                yield parsed


def load(session: Session, spec: ListSpec, *, case_db_path: str) -> KnownSource:
    """Record the list in ``case.db`` (copying a text list's hashes) and return how workers read it."""
    list_id = session.execute(
        insert(known_list)
        .values(name=spec.name, path=spec.path, sha256=spec.sha256, format=spec.format, entries=0)
        .returning(known_list.c.id)
    ).scalar_one()
    entries = 0
    if spec.format != "nsrl":
        batch: list[dict[str, Any]] = []
        stmt = insert(known_hash).prefix_with("OR IGNORE")
        for alg, value in _lines(spec.path, display_path(spec.path)):
            batch.append({"alg": alg, "value": value, "list_id": list_id})
            if len(batch) >= _BATCH:
                session.execute(stmt, batch)
                entries += len(batch)
                batch.clear()
        if batch:
            session.execute(stmt, batch)
            entries += len(batch)
        session.execute(known_list.update().where(known_list.c.id == list_id).values(entries=entries))
    return sources_for(list_id, spec, case_db_path)


def sources_for(list_id: int, spec: ListSpec, case_db_path: str) -> KnownSource:
    if spec.format == "nsrl":
        return KnownSource(list_id, spec.name, "nsrl", spec.path, spec.column)
    return KnownSource(list_id, spec.name, "case", case_db_path)
