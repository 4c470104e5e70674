"""password_attempts: password checks counted per name and per client address (``services.password_guard``)

One row per scope (``name`` or ``address``) and subject: checks taken in the current round,
lockouts so far, the end of the current lockout, and when it was last seen (rows quiet for a
day are pruned). In the database so that every API process (``--workers``) counts together.

Revision ID: 0012_password_attempts
Revises: 0011_secrets_at_rest
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_password_attempts"
down_revision = "0011_secrets_at_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_attempts",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name="pk_password_attempts"),
    )
    op.create_index("ix_password_attempts_last_seen", "password_attempts", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_password_attempts_last_seen", table_name="password_attempts")
    op.drop_table("password_attempts")
