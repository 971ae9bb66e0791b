"""portal: PINs, hash submissions, evidence log, browser-encrypted evidence, throttles, form tokens

Revision ID: 0700_portal
Revises: 0001_core
Depends on: 0200_victim_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0700_portal"
down_revision = "0001_core"
branch_labels = ("portal",)
depends_on = "0200_victim_cases"

_TS = sa.DateTime(timezone=True)
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _case_fk() -> sa.Column[int]:
    return sa.Column(
        "case_id", sa.Integer, sa.ForeignKey("case_record.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    op.create_table(
        "portal_access",
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("case_record.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("contact", sa.Text, nullable=True),
    )
    op.create_table(
        "portal_submission",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("pdq_quality", sa.Integer, nullable=True),
        sa.Column("dihedral", sa.JSON, nullable=False),
        sa.Column("size", _BIG, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("bank_id", sa.Integer, nullable=True),
        sa.Column("content_id", _BIG, nullable=True, index=True),
        sa.Column("owns_entry", sa.Boolean, nullable=False),
        sa.Column("withdrawn_at", _TS, nullable=True),
    )
    op.create_table(
        "portal_log_entry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("happened_on", sa.Date, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("platform", sa.String(200), nullable=True),
        sa.Column("account", sa.String(200), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "portal_sealed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "portal_throttle",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
    )
    op.create_table(
        "portal_form_token",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("used_at", _TS, nullable=False, index=True),
    )


def downgrade() -> None:
    for t in (
        "portal_form_token",
        "portal_throttle",
        "portal_sealed",
        "portal_log_entry",
        "portal_submission",
        "portal_access",
    ):
        op.drop_table(t)
