"""sms_users: an account's users (``sms.User``), and the user a job was sent as

- ``sms_users``: login and password hash (argon2), callbacks, the http2sms address allow-list,
  the quota (credits held from the account for the user) and its alert threshold.
- ``jobs.user_id``: the user a job was sent as (``/sms/{s}/users/{login}/jobs``, http2sms);
  none for the account's own jobs.

Revision ID: 0019_users
Revises: 0018_virtual_numbers
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_users"
down_revision = "0018_virtual_numbers"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_users",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("callback", sa.String(length=2048), nullable=True),
        sa.Column("stop_callback", sa.String(length=2048), nullable=True),
        sa.Column("ip_restrictions", sa.JSON(), nullable=False),
        sa.Column("quota_status", sa.String(length=16), nullable=False),
        sa.Column("quota_left_milli", sa.BigInteger(), nullable=False),
        sa.Column("alert_threshold", sa.Integer(), nullable=False),
        sa.Column("alert_support", sa.String(length=8), nullable=False),
        sa.Column("alert_email", sa.String(length=256), nullable=False),
        sa.Column("alert_number", sa.String(length=32), nullable=False),
        sa.Column("alert_armed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_sms_users_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_users")),
        sa.UniqueConstraint("account_id", "login", name="uq_sms_users_account_login"),
        sqlite_autoincrement=True,  # a deleted user's id is never given again (jobs.user_id keeps pointing at it)
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("user_id", Id, nullable=True))
        batch.create_index("ix_jobs_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_user_id")
        batch.drop_column("user_id")
    op.drop_table("sms_users")
