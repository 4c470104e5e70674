"""dashboard: operators (``textos admin create``) and server-side dashboard sessions

- ``operators``: logins of the dashboard's operators, with their password hashes.
- ``dashboard_sessions``: one row per logged-in browser, keyed by the SHA-256 of the cookie's
  token, with its CSRF token and expiry; logging out deletes it.

Revision ID: 0026_dashboard_sessions
Revises: 0024_documents
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0026_dashboard_sessions"
down_revision = "0024_documents"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", Id, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("login", name=op.f("uq_operators_login")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("operator_id", Id, nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_dashboard_sessions_customer_id_customers")),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_dashboard_sessions_operator_id_operators")),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("operators")
