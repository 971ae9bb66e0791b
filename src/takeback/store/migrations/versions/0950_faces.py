"""faces: enrolled people (pseudonymous, with consent reference, scope, expiry) and sealed templates

Revision ID: 0950_faces
Revises: 0001_core
Depends on: 0200_victim_cases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0950_faces"
down_revision = "0001_core"
branch_labels = ("faces",)
depends_on = "0200_victim_cases"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "face_person",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pseudonym", sa.String(16), nullable=False, unique=True),
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("case_record.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("consent_ref", sa.String(200), nullable=False),
        sa.Column("scope_cases", sa.Text, nullable=False),
        sa.Column("platform_matching", sa.Boolean, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "face_template",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey("face_person.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("warnings", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("face_template")
    op.drop_table("face_person")
