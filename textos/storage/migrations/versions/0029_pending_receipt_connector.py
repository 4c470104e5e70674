"""pending receipts: the connector each came through

Carriers number their ids each on their own: ``10001`` from one SMSC and ``10001`` from another
name two messages. A receipt kept until its message is stored now keeps its connector, so that
it settles that carrier's message only (``storage.receipts``). Receipts kept before have none and
match as before.

Revision ID: 0029_pending_receipt_connector
Revises: 0028_report_counts
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0029_pending_receipt_connector"
down_revision = "0028_report_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_receipts") as batch:
        batch.add_column(sa.Column("connector", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_receipts") as batch:
        batch.drop_column("connector")
