"""callback_events.replayed_at (a replayed event gets a new ``callback_max_age``) and claimed_by
(the callbacks worker leasing an event: its leases end as soon as it is known to be gone);
the due index holds ``host``, so a claim leaving out hosts at their bound reads no row of theirs

Revision ID: 0015_callbacks_replay
Revises: 0014_callback_outbox
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_callbacks_replay"
down_revision = "0014_callback_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_events") as batch:
        batch.add_column(sa.Column("replayed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
    _due_index(["next_attempt_at", "id", "host"])


def _due_index(columns: list[str]) -> None:
    op.drop_index("ix_callback_events_due", table_name="callback_events")
    op.create_index(
        "ix_callback_events_due", "callback_events", columns,
        sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    _due_index(["next_attempt_at", "id"])
    with op.batch_alter_table("callback_events") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("replayed_at")
