"""incoming parts: concatenated incoming messages reassembled in the database

Parts used to wait in the connector's memory after being acknowledged to the SMSC, so
a restart lost them. Each part is now stored before it is acknowledged.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incoming_parts",
        sa.Column("id", Id, nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("receiver", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incoming_parts")),
        sa.UniqueConstraint("connector", "sender", "receiver", "ref", "total", "seq", name="uq_incoming_parts_part"),
    )


def downgrade() -> None:
    op.drop_table("incoming_parts")
