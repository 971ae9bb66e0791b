"""victim: evidence items and the append-only custody log

Revision ID: 0201_victim_evidence
Revises: 0200_victim_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0201_victim_evidence"
down_revision = "0200_victim_cases"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_DENY = "custody_entry is append-only"


def upgrade() -> None:
    op.create_table(
        "evidence_item",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("case_record.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("original_name", sa.String(500), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("final_url", sa.Text, nullable=True),
        sa.Column("platform", sa.String(100), nullable=True),
        sa.Column("account", sa.String(200), nullable=True),
        sa.Column("posted_at", _TS, nullable=True),
        sa.Column("captured_at", _TS, nullable=False),
        sa.Column("capture_zone", sa.String(64), nullable=False),
        sa.Column("captured_by", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True, index=True),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("pdq_quality", sa.Integer, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("media_type", sa.String(100), nullable=True),
        sa.Column("stored", sa.Boolean, nullable=False),
        sa.Column("blob_id", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("fetch", sa.JSON, nullable=True),
        sa.Column("fingerprint_error", sa.JSON, nullable=True),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("custody_seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "custody_entry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("log", sa.String(200), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sig", sa.String(100), nullable=False),
        sa.Column("v", sa.Integer, nullable=False),
        sa.UniqueConstraint("log", "seq", name="uq_custody_log_seq"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER custody_entry_no_{verb.lower()} BEFORE {verb} ON custody_entry "
                f"BEGIN SELECT RAISE(ABORT, '{_DENY}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION custody_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_DENY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER custody_entry_append_only BEFORE UPDATE OR DELETE ON custody_entry "
            "FOR EACH ROW EXECUTE FUNCTION custody_entry_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS custody_entry_append_only ON custody_entry")
        op.execute("DROP FUNCTION IF EXISTS custody_entry_append_only()")
    op.drop_table("custody_entry")
    op.drop_table("evidence_item")
