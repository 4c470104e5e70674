"""conversations, and incoming messages linked to the message they answer

A ``senderForResponse`` message goes out from a short number lent to its receiver for 48 h:
a row of ``conversations`` (unique per receiver and short number, taken over once expired).
An incoming message answering it gets the message's id (``incoming.message_id``); ``hidden``
is set by ``DELETE /sms/{s}/incoming/{id}``.

Revision ID: 0016_conversations_replies
Revises: 0015_callbacks_replay
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_conversations_replies"
down_revision = "0015_callbacks_replay"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", Id, nullable=False),
        sa.Column("receiver", sa.String(length=32), nullable=False),
        sa.Column("short_number", sa.String(length=16), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("receiver", "short_number", name="uq_conversations_receiver_short_number"),
    )
    with op.batch_alter_table("incoming") as batch:
        batch.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_incoming_account_listed", "incoming", ["account_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_incoming_account_listed", table_name="incoming")
    with op.batch_alter_table("incoming") as batch:
        batch.drop_column("hidden")
        batch.drop_column("message_id")
    op.drop_table("conversations")
