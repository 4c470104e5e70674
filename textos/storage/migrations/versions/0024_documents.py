"""documents: /me/document files (consumption exports) and their bytes, in chunks

- ``documents``: ``nichandle.document.Document`` (name, size, tags, expiration) and the
  unguessable token of its ``getUrl``; ``size`` is 0 while the export is being written.
- ``document_chunks``: the bytes, a piece per row, so an export of a million rows is written
  and served a piece at a time, by any server process.

Revision ID: 0024_documents
Revises: 0023_user_slots
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0024_documents"
down_revision = "0023_user_slots"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("get_token", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_documents_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("get_token", name=op.f("uq_documents_get_token")),
    )
    op.create_index(op.f("ix_documents_customer_id"), "documents", ["customer_id"])
    op.create_index(op.f("ix_documents_expires_at"), "documents", ["expires_at"])
    op.create_table(
        "document_chunks",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "seq", name=op.f("pk_document_chunks")),
    )


def downgrade() -> None:
    op.drop_table("document_chunks")
    op.drop_index(op.f("ix_documents_expires_at"), table_name="documents")
    op.drop_index(op.f("ix_documents_customer_id"), table_name="documents")
    op.drop_table("documents")
