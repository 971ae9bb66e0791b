"""watch: re-checking reported posts (issue 20, part 1)

Revision ID: 0970_watch
Revises: 0001_core
Depends on: 0201_victim_evidence
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0970_watch"
down_revision = "0001_core"
branch_labels = ("watch",)
depends_on = "0201_victim_evidence"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "watch",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("case_record.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column(
            "takedown_id",
            sa.Integer,
            sa.ForeignKey("case_takedown.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("every_hours", sa.Integer, nullable=False),
        sa.Column("next_due_at", _TS, nullable=False, index=True),
        sa.Column("last_checked_at", _TS, nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_http_status", sa.Integer, nullable=True),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("seen_urls", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("removed_at", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("watch")
