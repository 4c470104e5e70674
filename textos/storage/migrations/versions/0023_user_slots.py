"""receiver_slots.user_id: a user's own receiver slots

``/sms/{s}/users/{login}/receivers`` are slots of the user's own (1–9, as the account's): a
slot row has the user's id, or none for the account's own slots. Slot numbers are unique per
account among the account's slots, and per user among a user's: the unique constraint on
(account_id, slot_id) becomes two partial unique indexes.

Revision ID: 0023_user_slots
Revises: 0020_user_quotas
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0023_user_slots"
down_revision = "0020_user_quotas"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("receiver_slots") as batch:
        batch.add_column(sa.Column("user_id", Id, nullable=True))
        batch.drop_constraint("uq_receiver_slots_account_id", type_="unique")
    op.create_index(
        "uq_receiver_slots_account_slot", "receiver_slots", ["account_id", "slot_id"], unique=True,
        sqlite_where=sa.text("user_id IS NULL"), postgresql_where=sa.text("user_id IS NULL"),
    )
    op.create_index(
        "uq_receiver_slots_user_slot", "receiver_slots", ["user_id", "slot_id"], unique=True,
        sqlite_where=sa.text("user_id IS NOT NULL"), postgresql_where=sa.text("user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_receiver_slots_user_slot", table_name="receiver_slots")
    op.drop_index("uq_receiver_slots_account_slot", table_name="receiver_slots")
    op.execute("DELETE FROM receiver_slots WHERE user_id IS NOT NULL")
    with op.batch_alter_table("receiver_slots") as batch:
        batch.drop_column("user_id")
        batch.create_unique_constraint("uq_receiver_slots_account_id", ["account_id", "slot_id"])
