"""metrics: an index of the callbacks given up, per host

``/metrics`` counts the callback events pending and failed per host at every scrape
(``storage.gauges``): pending ones have ``ix_callback_events_due``; this partial index gives
the failed ones the same, so a scrape reads the failures, never the delivered history.

Revision ID: 0027_metrics_callbacks_failed
Revises: 0026_dashboard_sessions
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0027_metrics_callbacks_failed"
down_revision = "0026_dashboard_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_callback_events_failed", "callback_events", ["host"],
        sqlite_where=sa.text("status = 'failed'"), postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_callback_events_failed", table_name="callback_events")
