"""Bulk inserts straight through the database driver, for the paths that write tens of thousands
of rows at a time (bank import, a mirror applying a feed page).

Why not ``conn.execute(insert(table), rows)``: SQLAlchemy then compiles the parameters of every
row one by one (a dict per row, each value through its type's processor), which cost more than
SQLite's own work. Here each column's processor is looked up once, a value repeated from the row
before (the batch's timestamp, its bank id) is processed once, and the driver gets plain tuples
(``executemany``: psycopg 3 pipelines them). The values stored are exactly those SQLAlchemy would
store: the same processors make them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import LargeBinary, Table, func, select
from sqlalchemy.engine import Connection

_MISSING = object()


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, named as the table's columns) in the caller's
    transaction, one ``executemany``."""
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    procs: list[tuple[int, Callable[[Any], Any]]] = []
    for i, k in enumerate(names):
        if isinstance(table.c[k].type, LargeBinary):
            continue  # bytes go to either driver as they are (the processor only wraps them)
        found = table.c[k].type.dialect_impl(dialect).bind_processor(dialect)
        if found is not None:
            procs.append((i, found))
    getter = itemgetter(*names)
    params: list[Any] = [(getter(r),) for r in rows] if len(names) == 1 else [getter(r) for r in rows]
    if procs:
        last_in: list[Any] = [_MISSING] * len(names)
        last_out: list[Any] = [None] * len(names)
        converted: list[Any] = []
        for values in params:
            row = list(values)
            for i, proc in procs:
                v = row[i]
                if v is not last_in[i]:
                    last_in[i], last_out[i] = v, proc(v)
                row[i] = last_out[i]
            converted.append(tuple(row))
        params = converted
    prep = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Names from the table's own metadata, quoted by the dialect; every value is bound.
    columns = ", ".join(prep.quote(n) for n in names)
    sql = f"INSERT INTO {prep.format_table(table)} ({columns}) VALUES ({', '.join([mark] * len(names))})"  # noqa: S608
    conn.exec_driver_sql(sql, params)


def next_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` new ids from a PostgreSQL table's ``id`` sequence, ascending (so rows inserted with
    them keep their order); the sequence hands them to no one else."""
    seq = func.pg_get_serial_sequence(table.name, "id")
    result = conn.execute(select(func.nextval(seq)).select_from(func.generate_series(1, int(n))))
    return sorted(int(i) for i in result.scalars())
