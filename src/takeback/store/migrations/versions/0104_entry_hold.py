"""banks: entry holds (``bank_content.hold_reason``, ``held_until``, ``held_at``, ``held_by``) and
a curator's rejection (``rejected_at``); a branch of its own so the banks branch keeps one head

Revision ID: 0104_entry_hold
Revises: 0001_core
Depends on: 0103_bank_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0104_entry_hold"
down_revision = "0001_core"
branch_labels = ("holds",)
depends_on = "0103_bank_feed"


def upgrade() -> None:
    # Nullable columns without defaults: an ALTER TABLE ADD COLUMN on both databases, no rewrite
    # of a large bank.
    op.add_column("bank_content", sa.Column("hold_reason", sa.String(32), nullable=True))
    op.add_column("bank_content", sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bank_content", sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bank_content", sa.Column("held_by", sa.String(200), nullable=True))
    op.add_column("bank_content", sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
    # list_held reads a bank's held entries without scanning the bank
    op.create_index(
        "ix_bank_content_held",
        "bank_content",
        ["bank_id", "hold_reason"],
        postgresql_where=sa.text("hold_reason IS NOT NULL"),
        sqlite_where=sa.text("hold_reason IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_bank_content_held", table_name="bank_content")
    with op.batch_alter_table("bank_content") as batch:
        for col in ("rejected_at", "held_by", "held_at", "held_until", "hold_reason"):
            batch.drop_column(col)
