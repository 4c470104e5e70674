"""bulk sending: receiver slots, batches, jobs.batch_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "receiver_slots",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("csv_url", sa.String(length=2048), nullable=True),
        sa.Column("document_id", sa.String(length=128), nullable=True),
        sa.Column("auto_update", sa.Boolean(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_receiver_slots_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receiver_slots")),
        sa.UniqueConstraint("account_id", "slot_id", name=op.f("uq_receiver_slots_account_id")),
    )
    with op.batch_alter_table("receiver_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receiver_slots_account_id"), ["account_id"], unique=False)

    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=True),
        sa.Column("sender_for_response", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("no_stop", sa.Boolean(), nullable=False),
        sa.Column("slot_id", sa.String(length=16), nullable=True),
        sa.Column("receivers", sa.JSON(), nullable=True),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("deferred", sa.DateTime(), nullable=True),
        sa.Column("total_records", sa.BigInteger(), nullable=False),
        sa.Column("processed_records", sa.BigInteger(), nullable=False),
        sa.Column("estimated_credits_milli", sa.BigInteger(), nullable=False),
        sa.Column("credits_milli", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_batches_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_account_id"), ["account_id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_batch_id"))
        batch_op.drop_column("batch_id")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_account_id"))
    op.drop_table("batches")
    with op.batch_alter_table("receiver_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receiver_slots_account_id"))
    op.drop_table("receiver_slots")
