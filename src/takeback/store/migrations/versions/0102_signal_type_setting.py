"""banks: HMA's per-signal-type enabled_ratio overrides (``PUT /c/signal_type/{name}``)

Revision ID: 0102_signal_type
Revises: 0101_bank_ratio
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0102_signal_type"
down_revision = "0101_bank_ratio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_type_setting",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("enabled_ratio", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signal_type_setting")
