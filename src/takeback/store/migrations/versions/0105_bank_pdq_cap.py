"""banks: ``bank.pdq_cap``, a ceiling on the PDQ distance a bank's entries match at, whatever its
threshold (an exchange's ``--max-pdq-distance`` sets it on its mirror bank); a branch of its own

Revision ID: 0105_bank_pdq_cap
Revises: 0001_core
Depends on: 0103_bank_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0105_bank_pdq_cap"
down_revision = "0001_core"
branch_labels = ("bank_cap",)
depends_on = "0103_bank_feed"


def upgrade() -> None:
    op.add_column("bank", sa.Column("pdq_cap", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank") as batch:
        batch.drop_column("pdq_cap")
