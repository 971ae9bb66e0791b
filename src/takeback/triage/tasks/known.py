"""The known-file task: an item on a known-file list (a case's hash list, NSRL) is counted as
``known`` and not analysed further — most of a seized disk is the operating system and programs."""

from __future__ import annotations

import sqlite3

from takeback.triage.models import KNOWN, ItemResult
from takeback.triage.tasks.base import Content, KnownSource

#: read-only connections to the lists, one per database file, for the worker's life
_conns: dict[str, sqlite3.Connection] = {}

_NSRL_QUERIES = {col: f"SELECT 1 FROM FILE WHERE {col} = ? LIMIT 1" for col in ("sha256", "sha1", "md5")}  # noqa: S608


def reset() -> None:
    """Forget the connections (a worker starting with new options)."""
    _conns.clear()


def _conn(path: str) -> sqlite3.Connection:
    c = _conns.get(path)
    if c is None:
        uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        c = sqlite3.connect(uri, uri=True, check_same_thread=False)
        _conns[path] = c
    return c


def known_names(
    md5: str | None, sha1: str | None, sha256: str | None, sources: tuple[KnownSource, ...]
) -> list[str]:
    """Names of the known-file lists holding one of these hashes."""
    hits: list[str] = []
    values = {"md5": md5, "sha1": sha1, "sha256": sha256}
    case_sources = [k for k in sources if k.kind == "case"]
    if case_sources:
        by_id = {k.list_id: k.name for k in case_sources}
        c = _conn(case_sources[0].path)
        for alg, value in values.items():
            if value is None:
                continue
            for (list_id,) in c.execute(
                "SELECT list_id FROM known_hash WHERE alg = ? AND value = ?", (alg, bytes.fromhex(value))
            ):
                name = by_id.get(list_id)
                if name and name not in hits:
                    hits.append(name)
    for k in sources:
        if k.kind != "nsrl" or k.name in hits:
            continue
        value = values.get(k.column)
        query = _NSRL_QUERIES.get(k.column)
        if value is None or query is None:
            continue
        row = _conn(k.path).execute(query, (value.upper(),)).fetchone()
        if row is not None:
            hits.append(k.name)
    return hits


class KnownFileTask:
    name = "known_file"

    def __init__(self, sources: tuple[KnownSource, ...]) -> None:
        self.sources = sources

    def applies(self, content: Content) -> bool:
        return True

    def run(self, content: Content, result: ItemResult) -> bool:
        hits = known_names(result.md5, result.sha1, result.sha256, self.sources)
        if not hits:
            return False
        result.state, result.known = KNOWN, hits
        return True
