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


def test_lock_timeout_becomes_a_clear_error(db: Database) -> None:
    """Another writer holding the lock: retry, then a 'database_locked' error (both databases)."""
    from takeback.store import StoreError

    blocker = db.engine.connect()
    trans = blocker.begin()
    blocker.execute(
        text(
            "INSERT INTO audit_event (at, actor, action, object_type, details) "
            "VALUES (CURRENT_TIMESTAMP, 'a', 'b', 'c', '{}')"
        )
    )
    if not db.url.startswith("sqlite"):
        blocker.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))
    try:
        # shorten the wait for the test
        def work(s):  # type: ignore[no-untyped-def]
            if not db.url.startswith("sqlite"):
                s.execute(text("SET LOCAL lock_timeout = '200ms'"))
            else:
                s.execute(text("PRAGMA busy_timeout = 200"))
            record_audit(s, actor="x", action="y", object_type="z")
            s.flush()

        with pytest.raises(StoreError) as err:
            db.run(work, retries=1)
        assert err.value.code == "database_locked"
    finally:
        trans.rollback()
        blocker.close()
