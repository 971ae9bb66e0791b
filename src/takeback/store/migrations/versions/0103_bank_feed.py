"""banks: ``bank_feed_change``, the per-entry change log a published feed pages through

Revision ID: 0103_bank_feed
Revises: 0102_signal_type
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0103_bank_feed"
down_revision = "0102_signal_type"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bank_feed_change",
        sa.Column("seq", _BIG, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("content_id", _BIG, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bank_feed_change_bank_seq", "bank_feed_change", ["bank_id", "seq"])
    # Entries that exist already enter the feed as adds, in id order, so a mirror gets them too.
    op.execute(
        """
        INSERT INTO bank_feed_change (bank_id, op, key, content_id, at)
        SELECT c.bank_id, 'add', '', c.id, c.created_at FROM bank_content c ORDER BY c.id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_bank_feed_change_bank_seq", "bank_feed_change")
    op.drop_table("bank_feed_change")
