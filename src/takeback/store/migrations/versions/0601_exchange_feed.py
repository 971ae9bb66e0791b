"""exchanges: a mirror's pull state (``exchange_feed``), its key -> entry map (``exchange_entry``)
and quarantined pages (``exchange_quarantine``)

Revision ID: 0601_exchange_feed
Revises: 0600_exchanges
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0601_exchange_feed"
down_revision = "0600_exchanges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_feed",
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("token", sa.String(200), nullable=False),
        sa.Column("publisher_key", sa.String(100), nullable=False),
        sa.Column("store_id", sa.String(64), nullable=True),
        sa.Column("remote_bank_id", sa.Integer, nullable=True),
        sa.Column("checkpoint", sa.BigInteger, nullable=False),
        sa.Column("lock_owner", sa.String(200), nullable=True),
        sa.Column("lock_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("applied", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "exchange_entry",
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("content_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "exchange_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchange.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("after", sa.BigInteger, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_quarantine")
    op.drop_table("exchange_entry")
    op.drop_table("exchange_feed")
