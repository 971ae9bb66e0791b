"""Persistence: SQLAlchemy 2 engine and models' base, Alembic migrations, the audit log.

SQLite in the data dir by default (WAL mode); PostgreSQL when ``TAKEBACK_DATABASE_URL`` says so.
Migrations run automatically when a database is opened with :func:`open_database`.
"""

from takeback.store.audit import AuditEvent, record_audit
from takeback.store.db import Base, Database, StoreError, database_url, open_database

__all__ = [
    "AuditEvent",
    "Base",
    "Database",
    "StoreError",
    "database_url",
    "open_database",
    "record_audit",
]
