"""victim: cases, consent, referrals, takedowns, deadline clocks

Revision ID: 0200_victim_cases
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0200_victim_cases"
down_revision = "0001_core"
branch_labels = ("victim",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def _case_fk() -> sa.Column[int]:
    return sa.Column(
        "case_id", sa.Integer, sa.ForeignKey("case_record.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    op.create_table(
        "case_record",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(20), nullable=False, unique=True),
        sa.Column("alias", sa.String(100), nullable=True),
        sa.Column("jurisdiction", sa.String(10), nullable=False),
        sa.Column("victim_age", sa.String(16), nullable=False),
        sa.Column("setting", sa.String(20), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("incident_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
    )
    op.create_table(
        "case_consent",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted_at", _TS, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("withdrawn_at", _TS, nullable=True),
        sa.Column("withdrawn_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "case_referral",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("reference_number", sa.String(100), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "case_takedown",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("platform", sa.String(100), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("first_response_at", _TS, nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("reference_number", sa.String(100), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "case_clock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(100), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False, index=True),
        sa.Column("duration", sa.String(16), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("confidence", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("case_clock", "case_takedown", "case_referral", "case_consent", "case_record"):
        op.drop_table(table)
