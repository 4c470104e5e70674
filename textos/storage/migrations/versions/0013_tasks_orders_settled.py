"""sms_tasks, orders of new accounts, messages.settled_at

- ``sms_tasks``: ``sms.Task`` rows (``GET /sms/{s}/task``), one per receivers clean
  (``POST /sms/{s}/receivers/{slotId}/clean``), with the clean's report.
- ``orders.account_id`` may be empty and ``orders.new_account`` says what account a paid
  order creates (``POST /order/sms/new``): the account exists only once the order is paid,
  and the order then points at it.
- ``messages.settled_at``: when a message reached its final status (delivered, failed,
  no_receipt, rejected, expired, cancelled), so a batch's ``finishedAt`` is the moment its
  last message settled, whenever the batch is seen complete. Messages settled before this
  revision have none (their batches were completed already, or take the time they are seen).

Revision ID: 0013_tasks_orders_settled
Revises: 0012_password_attempts
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_tasks_orders_settled"
down_revision = "0012_password_attempts"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_tasks",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("function", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_sms_tasks_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_tasks")),
    )
    op.create_index(op.f("ix_sms_tasks_account_id"), "sms_tasks", ["account_id"])
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("account_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("new_account", sa.JSON(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("settled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("settled_at")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("new_account")
        batch.alter_column("account_id", existing_type=Id, nullable=False)
    op.drop_index(op.f("ix_sms_tasks_account_id"), table_name="sms_tasks")
    op.drop_table("sms_tasks")
