"""TOTP second factors of local users (their secret, last accepted step and recovery code hashes).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "second_factors",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_second_factors_expires_at", "second_factors", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_second_factors_expires_at", table_name="second_factors")
    op.drop_table("second_factors")
