"""banks: per-day match counts of each bank entry

Revision ID: 0510_hits
Revises: 0001_core
Depends on: 0100_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0510_hits"
down_revision = "0001_core"
branch_labels = ("hits",)
depends_on = "0100_banks"

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bank_content_hit",
        sa.Column("content_id", _BIG, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bank_content_hit")
