"""accounts and users with a callBack, found at once

A transaction that changed messages writes their delivery events by one ``INSERT … SELECT``
(``storage.outbox.note_deliveries``), which joins each message to its account, job and user to find
the URL. When no account or user has a ``callBack`` it wrote nothing, yet took about 15 % of
PostgreSQL's statement time under on-the-fly load. The statement now first asks whether any has
one, through these partial indexes (an empty index when none has).

Revision ID: 0030_callback_indexes
Revises: 0029_pending_receipt_connector
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0030_callback_indexes"
down_revision = "0029_pending_receipt_connector"
branch_labels = None
depends_on = None

_WHERE = sa.text("callback <> ''")


def upgrade() -> None:
    op.create_index("ix_accounts_callback", "accounts", ["id"], sqlite_where=_WHERE, postgresql_where=_WHERE)
    op.create_index("ix_sms_users_callback", "sms_users", ["id"], sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_sms_users_callback", table_name="sms_users")
    op.drop_index("ix_accounts_callback", table_name="accounts")
