"""ix_messages_awaiting_receipt: the sent messages, by when they were sent

The receipt deadline (``receipt_timeout``) settles *sent* messages whose receipt never came
as *no_receipt* (``storage.messages.close_without_receipt``). The partial index holds only
messages waiting for their receipt, so the periodic look for overdue ones is one range read
however many settled messages the table keeps.

Revision ID: 0010_receipts
Revises: 0009_auth
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_receipts"
down_revision = "0009_auth"
branch_labels = None
depends_on = None

SENT = sa.text("status = 'sent'")


def upgrade() -> None:
    op.create_index("ix_messages_awaiting_receipt", "messages", ["sent_at"], sqlite_where=SENT, postgresql_where=SENT)


def downgrade() -> None:
    op.drop_index("ix_messages_awaiting_receipt", table_name="messages")
