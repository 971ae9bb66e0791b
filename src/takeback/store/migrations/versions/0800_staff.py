"""staff: accounts with a second factor, enrolment links, sessions, scan folders, access

Revision ID: 0800_staff
Revises: 0001_core
Depends on: 0200_victim_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0800_staff"
down_revision = "0001_core"
branch_labels = ("staff",)
depends_on = "0200_victim_cases"

_TS = sa.DateTime(timezone=True)


def _user_fk() -> sa.Column[int]:
    return sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("staff_user.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("handle", sa.String(32), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("totp_sealed", sa.LargeBinary, nullable=True),
        sa.Column("totp_step", sa.BigInteger, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("deactivated_at", _TS, nullable=True),
    )
    op.create_table(
        "staff_enrolment",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        _user_fk(),
        sa.Column("totp_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
    )
    op.create_table(
        "staff_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        _user_fk(),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
    )
    op.create_table(
        "scan_folder",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("registered_at", _TS, nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "staff_assignment",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user_fk(),
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("case_record.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column(
            "scan_id",
            sa.Integer,
            sa.ForeignKey("scan_folder.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("assigned_at", _TS, nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("removed_at", _TS, nullable=True),
    )


def downgrade() -> None:
    for name in (
        "staff_assignment",
        "scan_folder",
        "staff_session",
        "staff_enrolment",
        "staff_user",
    ):
        op.drop_table(name)
