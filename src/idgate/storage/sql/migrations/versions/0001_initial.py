"""Initial schema: one table per record kind (clients, passwords, auth requests and codes, access tokens,
signing keys).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "clients",
    "passwords",
    "auth_requests",
    "auth_codes",
    "access_tokens",
    "signing_keys",
)


def upgrade() -> None:
    for name in TABLES:
        op.create_table(
            name,
            sa.Column("id", sa.String(255), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=True),
            sa.Column("data", sa.Text, nullable=False),
        )
        op.create_index(f"ix_{name}_expires_at", name, ["expires_at"])


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_index(f"ix_{name}_expires_at", table_name=name)
        op.drop_table(name)
