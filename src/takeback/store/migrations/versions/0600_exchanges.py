"""exchanges: configured exchanges (HMA's collaborations) and exchange API credentials

Revision ID: 0600_exchanges
Revises: 0001_core
Depends on: 0100_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0600_exchanges"
down_revision = "0001_core"
branch_labels = ("exchanges",)
depends_on = "0100_banks"


def upgrade() -> None:
    op.create_table(
        "exchange",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("api", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("bank.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "exchange_api_credentials",
        sa.Column("api", sa.String(100), primary_key=True),
        sa.Column("credentials", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_api_credentials")
    op.drop_table("exchange")
