"""video: let bank entries hold vPDQ fingerprints on PostgreSQL

A video's ``vpdq`` signal (every distinct frame hash, 41 bytes each) is tens of kilobytes, and
PostgreSQL's B-tree rejects index rows over ~2.7 kB, so the banks' ``(signal_type, value)`` index
cannot hold it. That index becomes partial (every type but ``vpdq``: the exact-hash lookups
``signal_type = 'md5' AND value IN (...)`` still use it), and ``vpdq`` values get a hash index, which
has no size limit, for the duplicate check. SQLite has no such limit: nothing changes there.

Revision ID: 0500_video
Revises: 0001_core
Depends on: 0100_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500_video"
down_revision = "0001_core"
branch_labels = ("video",)
depends_on = "0100_banks"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_content_signal_value", table_name="content_signal")
    op.create_index(
        "ix_content_signal_value",
        "content_signal",
        ["signal_type", "value"],
        postgresql_where=sa.text("signal_type <> 'vpdq'"),
    )
    op.create_index(
        "ix_content_signal_vpdq",
        "content_signal",
        ["value"],
        postgresql_using="hash",
        postgresql_where=sa.text("signal_type = 'vpdq'"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DELETE FROM content_signal WHERE signal_type = 'vpdq'")
    op.drop_index("ix_content_signal_vpdq", table_name="content_signal")
    op.drop_index("ix_content_signal_value", table_name="content_signal")
    op.create_index("ix_content_signal_value", "content_signal", ["signal_type", "value"])
