"""Part states in Textos's words: ``delivered`` instead of SMPP's ``DELIVRD``

Carriers' vocabularies stay inside their connectors; ``message_parts.state`` and
``pending_receipts.state`` hold ``domain.lifecycle.DeliveryState`` values.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATES = {
    "ENROUTE": "enroute",
    "ACCEPTD": "accepted",
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "DELETED": "deleted",
    "UNDELIV": "undeliverable",
    "REJECTD": "rejected",
    "UNKNOWN": "unknown",
}
TABLES = ("message_parts", "pending_receipts")


def _rename(mapping: dict[str, str]) -> None:
    for table in TABLES:
        for old, new in mapping.items():
            op.execute(sa.text(f"UPDATE {table} SET state = :new WHERE state = :old").bindparams(old=old, new=new))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce lengths
        for table in TABLES:
            op.alter_column(table, "state", type_=sa.String(16), existing_type=sa.String(8))
    _rename(STATES)


def downgrade() -> None:
    _rename({new: old for old, new in STATES.items()})
