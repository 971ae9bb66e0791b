"""banks: a bank's matching ratio (HMA's ``enabled_ratio``)

HMA lets a bank match a share of lookups: ``enabled_ratio`` 0.5 is a coin flip per lookup. The
ratio is kept beside ``enabled`` (which stays the on/off every other surface uses): 1.0 for every
existing bank.

Revision ID: 0101_bank_ratio
Revises: 0100_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_bank_ratio"
down_revision = "0100_banks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "bank", sa.Column("matching_ratio", sa.Float, nullable=False, server_default=sa.text("1.0"))
    )


def downgrade() -> None:
    with op.batch_alter_table("bank") as batch:
        batch.drop_column("matching_ratio")
