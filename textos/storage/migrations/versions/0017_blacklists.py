"""blacklists: numbers that answered STOP, per account

A STOP (``services.blacklists``) adds a row; a commercial message to a number with an active
row (``removed_at IS NULL``, unique per account) is not sent (status ``blacklisted``). Removal
stamps ``removed_at`` so that STOP history stays countable per tag.

Revision ID: 0017_blacklists
Revises: 0016_conversations_replies
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_blacklists"
down_revision = "0016_conversations_replies"
branch_labels = None
depends_on = None

_REACHED = "status IN ('sent', 'delivered', 'no_receipt')"
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blacklists",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sms_outgoing_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("incoming_id", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_blacklists_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklists")),
    )
    op.create_index(
        "uq_blacklists_active", "blacklists", ["account_id", "number"], unique=True,
        sqlite_where=sa.text("removed_at IS NULL"), postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_index("ix_blacklists_account_created", "blacklists", ["account_id", "created_at"])
    # a STOP to the clause's number finds the messages that reached its sender: partial, so the
    # bulk ingest (rows written ``queued``) does not maintain it; a message enters it once sent
    op.create_index(
        "ix_messages_receiver_reached", "messages", ["receiver", "id"],
        sqlite_where=sa.text(_REACHED), postgresql_where=sa.text(_REACHED),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_receiver_reached", table_name="messages")
    op.drop_index("ix_blacklists_account_created", table_name="blacklists")
    op.drop_index("uq_blacklists_active", table_name="blacklists")
    op.drop_table("blacklists")
