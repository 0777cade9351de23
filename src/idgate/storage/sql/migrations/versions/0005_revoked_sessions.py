"""Revoked proxy sessions: the ids signed out, each until a cookie holding it would have expired.

Not a record table: no ``version`` or ``data``. Every proxy process reads the rows revoked since its last
look (``revoked_at``, indexed) every two seconds; a revocation removes the expired ones (``expires_at``,
indexed).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("revoked_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_revoked_sessions_revoked_at", "revoked_sessions", ["revoked_at"])
    op.create_index("ix_revoked_sessions_expires_at", "revoked_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_sessions_expires_at", table_name="revoked_sessions")
    op.drop_index("ix_revoked_sessions_revoked_at", table_name="revoked_sessions")
    op.drop_table("revoked_sessions")
