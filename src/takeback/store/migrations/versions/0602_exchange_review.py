"""exchanges: review before matching on a mirror (``exchange_feed.review``, ``review_hours``); a
branch of its own

Revision ID: 0602_exchange_review
Revises: 0001_core
Depends on: 0601_exchange_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0602_exchange_review"
down_revision = "0001_core"
branch_labels = ("exchange_review",)
depends_on = "0601_exchange_feed"


def upgrade() -> None:
    # NULL reads as "none": existing mirrors match what they pull, as before
    op.add_column("exchange_feed", sa.Column("review", sa.String(16), nullable=True))
    op.add_column("exchange_feed", sa.Column("review_hours", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_feed") as batch:
        batch.drop_column("review_hours")
        batch.drop_column("review")
