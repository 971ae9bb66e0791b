"""feedback: opinions of bank entries (``bank_entry_opinion``), each bank's dispute threshold
(``bank_feedback_policy``) and the outbox of opinions on mirrored entries (``feedback_outbox``)

Revision ID: 0900_feedback
Revises: 0001_core
Depends on: 0601_exchange_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0900_feedback"
down_revision = "0001_core"
branch_labels = ("feedback",)
depends_on = "0601_exchange_feed"

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_entry_opinion",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("content_id", _BIG, sa.ForeignKey("bank_content.id", ondelete="CASCADE"), nullable=False),
        sa.Column("bank_id", sa.Integer, nullable=False),
        sa.Column("giver", sa.String(200), nullable=False),
        sa.Column("opinion", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("content_id", "giver", name="uq_bank_entry_opinion_giver"),
    )
    op.create_index("ix_bank_entry_opinion_bank_id", "bank_entry_opinion", ["bank_id"])
    op.create_table(
        "bank_feedback_policy",
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("bank.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("dispute_threshold", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "feedback_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "exchange_id", sa.Integer, sa.ForeignKey("exchange.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("giver", sa.String(200), nullable=False),
        sa.Column("opinion", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.UniqueConstraint("exchange_id", "key", "giver", name="uq_feedback_outbox_giver"),
    )
    op.create_index("ix_feedback_outbox_exchange_id", "feedback_outbox", ["exchange_id"])


def downgrade() -> None:
    op.drop_table("feedback_outbox")
    op.drop_table("bank_feedback_policy")
    op.drop_table("bank_entry_opinion")
