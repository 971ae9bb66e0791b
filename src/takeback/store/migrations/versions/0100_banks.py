"""banks: banks, their content entries, content signals and the signal change log

Revision ID: 0100_banks
Revises: 0001_core
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0100_banks"
down_revision = "0001_core"
branch_labels = ("banks",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LIVE = "deleted_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "bank",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("pdq_threshold", sa.Integer, nullable=False),
        sa.Column("is_allow_list", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("pdq_threshold >= 0 AND pdq_threshold <= 256", name="ck_bank_threshold"),
    )
    # Names are unique among live banks only: a deleted bank's name can be reused.
    op.create_index(
        "uq_bank_live_name",
        "bank",
        ["name_key"],
        unique=True,
        sqlite_where=sa.text(_LIVE),
        postgresql_where=sa.text(_LIVE),
    )
    op.create_table(
        "bank_content",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("bank.id"), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_bank_content_bank_id", "bank_content", ["bank_id", "id"])
    op.create_table(
        "content_signal",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("content_id", _ID, sa.ForeignKey("bank_content.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("quality", sa.Integer, nullable=True),
        sa.UniqueConstraint("content_id", "signal_type", name="uq_content_signal_type"),
    )
    op.create_index("ix_content_signal_value", "content_signal", ["signal_type", "value"])
    # Append-only log of changes the in-memory indexes must follow. ``seq`` never goes backwards
    # and (writers being serialised) commits in seq order, so "everything after my watermark" is
    # exactly what an index loaded from disk or kept by another process still has to apply.
    op.create_table(
        "bank_change",
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("bank_id", sa.Integer, nullable=True),
        sa.Column("content_signal_id", _ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    # One row naming this store: persisted index files carry it in their name, so an index built
    # from another database is never mistaken for this one's.
    store_meta = op.create_table(
        "bank_store",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("store_id", sa.String(32), nullable=False),
    )
    op.bulk_insert(store_meta, [{"id": 1, "store_id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("bank_store")
    op.drop_table("bank_change")
    op.drop_index("ix_content_signal_value", table_name="content_signal")
    op.drop_table("content_signal")
    op.drop_index("ix_bank_content_bank_id", table_name="bank_content")
    op.drop_table("bank_content")
    op.drop_index("uq_bank_live_name", table_name="bank")
    op.drop_table("bank")
