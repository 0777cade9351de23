"""Refresh token families, login sessions, device requests and tokens; indexed lookup columns.

``access_tokens`` gains ``grant_id`` and ``session_id`` (so a code replay, a revoked refresh token or a
logout can end the access tokens issued with them); ``refresh_tokens`` are found by ``owner`` (client and
subject) and ``session_id``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: new table -> its indexed lookup columns
NEW_TABLES: dict[str, tuple[str, ...]] = {
    "refresh_tokens": ("owner", "session_id"),
    "login_sessions": (),
    "device_requests": (),
    "device_tokens": (),
}
ACCESS_TOKEN_COLUMNS = ("grant_id", "session_id")


def upgrade() -> None:
    for name, lookups in NEW_TABLES.items():
        op.create_table(
            name,
            sa.Column("id", sa.String(255), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=True),
            sa.Column("data", sa.Text, nullable=False),
            *(sa.Column(column, sa.String(512), nullable=False) for column in lookups),
        )
        op.create_index(f"ix_{name}_expires_at", name, ["expires_at"])
        for column in lookups:
            op.create_index(f"ix_{name}_{column}", name, [column])
    for column in ACCESS_TOKEN_COLUMNS:
        op.add_column("access_tokens", sa.Column(column, sa.String(512), nullable=False, server_default=""))
        op.create_index(f"ix_access_tokens_{column}", "access_tokens", [column])


def downgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:  # SQLite drops columns by copying
        for column in ACCESS_TOKEN_COLUMNS:
            batch.drop_index(f"ix_access_tokens_{column}")
            batch.drop_column(column)
    for name in reversed(NEW_TABLES):
        op.drop_table(name)
