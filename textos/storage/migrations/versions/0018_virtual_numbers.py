"""virtual_numbers: dedicated long numbers of an account

A number the operator assigns to one account (``textos number add``): the account sends from
it (``/sms/{s}/virtualNumbers/{number}/jobs``) and every message to it is the account's
incoming message (``services.virtual_numbers``). ``number`` is E.164, unique: one account
at a time.

Revision ID: 0018_virtual_numbers
Revises: 0017_blacklists
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_virtual_numbers"
down_revision = "0017_blacklists"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "virtual_numbers",
        sa.Column("id", Id, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_virtual_numbers_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_virtual_numbers_number")),
    )
    op.create_index("ix_virtual_numbers_account_id", "virtual_numbers", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_virtual_numbers_account_id", table_name="virtual_numbers")
    op.drop_table("virtual_numbers")
