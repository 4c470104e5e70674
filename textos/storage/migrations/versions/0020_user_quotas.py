"""jobs.quota_paid: a job paid from its user's quota (``services.quotas``)

Its refunds go back to the quota it was paid from (while that quota is active), not to the
account's free credits.

Revision ID: 0020_user_quotas
Revises: 0019_users
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_user_quotas"
down_revision = "0019_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("quota_paid", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("quota_paid")
