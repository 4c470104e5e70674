"""billing: orders, transfer allowances, accounts.recredit_armed, one purchase per order

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("without_tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("with_tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("priced", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("paid_by", sa.String(length=128), nullable=True),
        sa.Column("payment_provider", sa.String(length=32), nullable=True),
        sa.Column("payment_reference", sa.String(length=256), nullable=True),
        sa.Column("payment_confirmations", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("token", name=op.f("uq_orders_token")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_orders_customer_created", ["customer_id", "created_at"], unique=False)

    op.create_table(
        "transfer_allowances",
        sa.Column("id", Id, nullable=False),
        sa.Column("source_account_id", Id, nullable=False),
        sa.Column("target_account_id", Id, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_account_id"], ["accounts.id"], name=op.f("fk_transfer_allowances_source_account_id_accounts")),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], name=op.f("fk_transfer_allowances_target_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_allowances")),
        sa.UniqueConstraint("source_account_id", "target_account_id", name=op.f("uq_transfer_allowances_source_account_id")),
    )

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recredit_armed", sa.Boolean(), nullable=False, server_default=sa.true()))

    op.create_index(
        "uq_ledger_entries_purchase_order",
        "ledger_entries",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'purchase'"),
        postgresql_where=sa.text("kind = 'purchase'"),
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_entries_purchase_order", table_name="ledger_entries")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("recredit_armed")
    op.drop_table("transfer_allowances")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_customer_created")
        batch_op.drop_index(batch_op.f("ix_orders_account_id"))
    op.drop_table("orders")
