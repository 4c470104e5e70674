"""auth_version: one counter bumped in the transaction of every change to a credential or an application

Processes that keep applications and consumer keys in memory (``api.auth_cache``) compare it
per request (SQLite) or are told of it by ``NOTIFY textos_auth`` (PostgreSQL); on PostgreSQL
each listening connection notes in ``auth_listeners`` the last version it heard, so the process
that made a change can wait until every live listener has heard it.

Revision ID: 0009_auth
Revises: 0008
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_auth"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "auth_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])
    op.create_table(
        "auth_listeners",
        sa.Column("backend_pid", sa.Integer(), primary_key=True),
        sa.Column("seen", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_listeners")
    op.drop_table("auth_version")
