"""NIST NSRL RDS v3 (SQLite): the ``FILE`` table's rows as entries, read in rowid order a page at a
time so a database of any size streams (never loaded whole).

A row is an entry with its ``md5`` and ``sha256`` (RDS hex is upper-case); ``sha1``, ``crc32``,
``file_name``, ``file_size`` and ``package_id`` are kept in the metadata's ``nsrl`` object and
written back by an export. NSRL lists known software files: import it into an allow-list bank
(``bank create NAME --allow-list``) so that its matches suppress others rather than flag. A bad
row is reported by its ``rowid`` (the "line" of a database). The same file often appears in
many packages: repeats of a hash are duplicates, skipped and counted, as in any import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from takeback.banks.formats.common import Row, signal
from takeback.banks.service import BankError, ContentView, NewContent, check_metadata
from takeback.errors import TakebackError

COLUMNS = ("sha256", "sha1", "md5", "crc32", "file_name", "file_size", "package_id")
_KEPT = ("sha1", "crc32", "file_name", "file_size", "package_id")
PAGE = 5_000


def _open(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True)


def read_nsrl(path: Path, *, default_source: str) -> Iterator[Row]:
    try:
        conn = _open(path)
        cols = [r[1].lower() for r in conn.execute("PRAGMA table_info(FILE)")]
    except sqlite3.Error as exc:
        yield 0, f"not an NSRL RDS v3 SQLite database ({exc})."
        return
    try:
        if not cols:
            yield 0, "not an NSRL RDS v3 database: it has no FILE table."
            return
        if "md5" not in cols and "sha256" not in cols:
            yield 0, "the FILE table has neither an md5 nor a sha256 column."
            return
        wanted = [c for c in COLUMNS if c in cols]
        query = f"SELECT rowid, {', '.join(wanted)} FROM FILE WHERE rowid > ? ORDER BY rowid LIMIT {PAGE}"  # noqa: S608 (names from COLUMNS)
        last = -(2**63)
        while True:
            try:
                rows = conn.execute(query, (last,)).fetchall()
            except sqlite3.Error as exc:
                yield last + 1, f"the database could not be read past this row ({exc})."
                return
            if not rows:
                return
            for row in rows:
                last = row[0]
                rec = dict(zip(wanted, row[1:], strict=True))
                try:
                    yield last, _entry(rec, default_source=default_source)
                except TakebackError as exc:
                    yield last, exc.message
    finally:
        conn.close()


def _entry(rec: dict[str, Any], *, default_source: str) -> NewContent:
    signals = []
    for name in ("md5", "sha256"):
        value = rec.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        signals.append(signal(name, value, field=name))
    if not signals:
        raise BankError("no md5 or sha256 in this row.")
    kept = {k: rec[k] for k in _KEPT if k in rec and rec[k] is not None}
    for k, v in kept.items():
        if isinstance(v, bytes):
            kept[k] = v.decode("utf-8", errors="backslashreplace")
        elif not isinstance(v, (str, int)):
            kept[k] = str(v)
    return NewContent(signals=tuple(signals), metadata=check_metadata({"nsrl": kept}), source=default_source)


def write_nsrl(views: Iterable[ContentView], path: Path) -> tuple[int, int]:
    """A minimal RDS v3 database (the ``FILE`` table) at ``path``; (written, left out: no md5 or
    sha256). Written to ``path`` directly: the caller writes to a temporary name and renames it."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    written = skipped = 0
    try:
        conn.execute(
            "CREATE TABLE FILE (sha256 TEXT, sha1 TEXT, md5 TEXT, crc32 TEXT, file_name TEXT, "
            "file_size INTEGER, package_id INTEGER)"
        )
        batch: list[tuple[Any, ...]] = []
        for v in views:
            md5, sha256 = v.signals.get("md5"), v.signals.get("sha256")
            if md5 is None and sha256 is None:
                skipped += 1
                continue
            kept = v.metadata.get("nsrl")
            kept = kept if isinstance(kept, dict) else {}
            batch.append(
                (
                    sha256[0].hex().upper() if sha256 else None,
                    kept.get("sha1"),
                    md5[0].hex().upper() if md5 else None,
                    kept.get("crc32"),
                    kept.get("file_name", f"takeback-entry-{v.id}"),
                    kept.get("file_size"),
                    kept.get("package_id"),
                )
            )
            written += 1
            if len(batch) >= PAGE:
                conn.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
        conn.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        conn.commit()
    finally:
        conn.close()
    return written, skipped
