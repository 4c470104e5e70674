"""high-volume messages: no per-row foreign-key checks, queue ordered by due time

Merges the bulk (0002), billing (0003) and delivery-index (0004) branches.

``messages`` and ``message_parts`` are written only by Textos, together with their job
(one transaction) or their message: foreign keys there cost a lookup per row (on
PostgreSQL ~14 µs, about 11 s of a million-recipient COPY) and protect nothing the
writers do not already guarantee. The queue index becomes (priority, send_at, id) so
that a large deferred campaign does not make every claim scan it.

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_account_id_accounts", type_="foreignkey")
        batch.drop_constraint("fk_messages_job_id_jobs", type_="foreignkey")
    with op.batch_alter_table("message_parts") as batch:
        batch.drop_constraint("fk_message_parts_message_id_messages", type_="foreignkey")
    op.drop_index("ix_messages_queue", table_name="messages")
    op.create_index("ix_messages_queue", "messages", ["priority", "send_at", "id"], sqlite_where=QUEUED, postgresql_where=QUEUED)


def downgrade() -> None:
    op.drop_index("ix_messages_queue", table_name="messages")
    op.create_index("ix_messages_queue", "messages", ["priority", "id"], sqlite_where=QUEUED, postgresql_where=QUEUED)
    with op.batch_alter_table("message_parts") as batch:
        batch.create_foreign_key("fk_message_parts_message_id_messages", "messages", ["message_id"], ["id"])
    with op.batch_alter_table("messages") as batch:
        batch.create_foreign_key("fk_messages_account_id_accounts", "accounts", ["account_id"], ["id"])
        batch.create_foreign_key("fk_messages_job_id_jobs", "jobs", ["job_id"], ["id"])
