"""claimed_by: the dispatcher instance that has a message in flight

Several dispatchers may share a PostgreSQL database; a message left *submitting* is
queued again only once the dispatcher that claimed it is gone (``delivery.ownership``).
The partial index keeps only messages in flight: finding orphans never scans the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

IN_FLIGHT = sa.text("status = 'submitting'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.create_index("ix_messages_in_flight", "messages", ["claimed_by"], sqlite_where=IN_FLIGHT, postgresql_where=IN_FLIGHT)


def downgrade() -> None:
    op.drop_index("ix_messages_in_flight", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_by")
