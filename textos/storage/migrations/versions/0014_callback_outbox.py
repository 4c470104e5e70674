"""callback_events: the callbacks outbox

Every event a customer's URL is to be told (a delivery status change → ``callBack``, a STOP
→ ``stopCallBack``, a reply → ``smsResponse.cgiUrl``) is a row here, written in the
transaction of the change that causes it (``storage.outbox``), and delivered from here.

Revision ID: 0014_callback_outbox
Revises: 0013_tasks_orders_settled
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_callback_outbox"
down_revision = "0013_tasks_orders_settled"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("user_login", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("order_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_callback_events_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_events")),
    )
    op.create_index(
        "ix_callback_events_due", "callback_events", ["next_attempt_at", "id"],
        sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_callback_events_order", "callback_events", ["order_key", "id"])
    op.create_index("ix_callback_events_account", "callback_events", ["account_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_callback_events_account", table_name="callback_events")
    op.drop_index("ix_callback_events_order", table_name="callback_events")
    op.drop_index("ix_callback_events_due", table_name="callback_events")
    op.drop_table("callback_events")
