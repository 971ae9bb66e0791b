"""The store: migrations, the append-only audit log, lock handling."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from takeback.store import AuditEvent, Database, open_database, record_audit


def test_migrations_create_the_audit_log(db: Database) -> None:
    assert "audit_event" in inspect(db.engine).get_table_names()
    # opening again is a no-op, not an error
    again = open_database(db.url)
    again.dispose()


def test_audit_log_is_append_only(db: Database) -> None:
    with db.session() as s:
        record_audit(
            s, actor="key:7", action="bank.create", object_type="bank", object_id=3, details={"name": "ncii"}
        )
    with db.session() as s:
        (ev,) = s.scalars(select(AuditEvent)).all()
        assert (ev.actor, ev.action, ev.object_id, ev.details) == (
            "key:7",
            "bank.create",
            "3",
            {"name": "ncii"},
        )
        assert ev.at.tzinfo is not None or db.url.startswith("sqlite")
    for stmt in ("UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
            s.execute(text(stmt))
    with db.session() as s:
        assert s.scalar(select(AuditEvent.actor)) == "key:7"


def test_audit_refuses_raw_bytes(db: Database) -> None:
    with pytest.raises(ValueError, match="never carry content"), db.session() as s:
        record_audit(s, actor="x", action="y", object_type="z", details={"image": b"\xff\xd8"})
