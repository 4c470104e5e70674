"""report counts: campaign reports kept as messages settle

``report_deltas`` (appended by the statements that write and settle messages),
``report_counts`` (per account, tag, batch, hour of acceptance and metric) and ``report_totals``
(per account and metric), see ``storage.report_counts``; indexes for a campaign's STOPs by tag
and by batch. The messages already stored are counted once here, as deltas per job (folded by
the server within minutes even for millions of jobs; reports are exact meanwhile).

Revision ID: 0028_report_counts
Revises: 0027_metrics_callbacks_failed
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from textos.domain.lifecycle import REFUNDED, MessageStatus
from textos.storage.report_counts import Tally

revision = "0028_report_counts"
down_revision = "0027_metrics_callbacks_failed"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_deltas",
        sa.Column("id", Id, nullable=False),
        sa.Column("job_id", Id, nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_deltas")),
    )
    op.create_table(
        "report_counts",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "tag", "batch_id", "hour", "metric", name=op.f("pk_report_counts")),
    )
    op.create_index("ix_report_counts_batch", "report_counts", ["account_id", "batch_id"])
    op.create_index("ix_report_counts_hour", "report_counts", ["account_id", "hour"])
    op.create_table(
        "report_totals",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "metric", name=op.f("pk_report_totals")),
    )
    op.create_index("ix_blacklists_account_tag", "blacklists", ["account_id", "tag", "created_at"])
    op.create_index("ix_blacklists_batch", "blacklists", ["account_id", "batch_id", "created_at"])
    _count_stored_messages(Session(bind=op.get_bind()))


def _count_stored_messages(session: Session) -> None:
    """What the writers would have appended for the messages stored before this revision."""
    free = ", ".join(f"'{s.value}'" for s in (*REFUNDED, MessageStatus.BLACKLISTED))
    tally = Tally()
    for job_id, status, ptt, n, milli in session.execute(sa.text(
        f"SELECT job_id, status, ptt, COUNT(*), SUM(CASE WHEN status IN ({free}) THEN 0 ELSE credits_milli END) "
        "FROM messages GROUP BY job_id, status, ptt"
    )):
        tally.accepted(job_id, int(n), int(milli or 0), status, ptt)
    tally.write(session)
    delivered = session.execute(
        sa.text("SELECT job_id, sent_at, delivered_at FROM messages WHERE status = 'delivered' AND sent_at IS NOT NULL"),
        execution_options={"yield_per": 10_000},
    )
    for rows in delivered.partitions():
        for job_id, sent_at, delivered_at in rows:
            tally.delivery(job_id, sent_at, delivered_at)
        tally.write(session)
    for job_id, n in session.execute(sa.text(
        "SELECT m.job_id, COUNT(*) FROM incoming i JOIN messages m ON m.id = i.message_id GROUP BY m.job_id"
    )):
        tally.replies(job_id, int(n))
    tally.write(session)


def downgrade() -> None:
    op.drop_index("ix_blacklists_batch", table_name="blacklists")
    op.drop_index("ix_blacklists_account_tag", table_name="blacklists")
    op.drop_table("report_totals")
    op.drop_index("ix_report_counts_hour", table_name="report_counts")
    op.drop_index("ix_report_counts_batch", table_name="report_counts")
    op.drop_table("report_counts")
    op.drop_table("report_deltas")
