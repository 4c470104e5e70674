"""delivery indexes: the queue by priority then age, messages by carrier id (both partial)

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("carrier_id IS NOT NULL")
    op.create_index("ix_messages_carrier_id", "messages", ["carrier_id"], sqlite_where=where, postgresql_where=where)
    queued = sa.text("status = 'queued'")
    op.drop_index("ix_messages_due", table_name="messages")
    op.create_index("ix_messages_queue", "messages", ["priority", "id"], sqlite_where=queued, postgresql_where=queued)


def downgrade() -> None:
    op.drop_index("ix_messages_queue", table_name="messages")
    op.create_index("ix_messages_due", "messages", ["status", "priority", "send_at"])
    op.drop_index("ix_messages_carrier_id", table_name="messages")
