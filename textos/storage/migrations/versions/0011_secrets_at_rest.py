"""secrets at rest: consumer keys and validation tokens as SHA-256 digests, application secrets sealed

``credentials.consumer_key`` becomes ``consumer_key_hash`` and ``validation_token`` becomes
``validation_token_hash`` (their values replaced by their SHA-256); ``applications.app_secret``
becomes ``secret_sealed`` (AES-GCM, ``storage.at_rest``). ``secret_key_check`` notes which key
seals them.

The key comes from ``Database.migrate``, which resolves it (``secret_key``, or the key file,
created first) before any migration runs and hands it over in ``config.attributes["secret_box"]``:
run it with ``textos migrate`` (or any ``textos`` command), not with a bare ``alembic upgrade``.

On SQLite the rewritten rows leave no copy of the old values in the file (``secure_delete`` for
this migration, then a checkpoint in ``Database.migrate``). On PostgreSQL the old row versions stay
in the table's dead tuples until it is vacuumed: run ``VACUUM FULL applications, credentials``
after upgrading.

Irreversible: consumer keys cannot be recovered from their digests.

Revision ID: 0011_secrets_at_rest
Revises: 0010_receipts
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from textos.storage.at_rest import key_digest, write_check

revision = "0011_secrets_at_rest"
down_revision = "0010_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    box = op.get_context().config.attributes.get("secret_box")  # type: ignore[union-attr]
    if box is None:
        raise RuntimeError("migration 0011 seals application secrets: run it through `textos migrate`, which finds the key")
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:  # freed space is zeroed (some builds default to it; this one may not)
        secure_delete = int(bind.exec_driver_sql("PRAGMA secure_delete").scalar_one())
        op.execute("PRAGMA secure_delete = ON")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_constraint("uq_credentials_consumer_key", type_="unique")
        batch_op.drop_constraint("uq_credentials_validation_token", type_="unique")
        batch_op.alter_column("consumer_key", new_column_name="consumer_key_hash", existing_type=sa.String(64), existing_nullable=False)
        batch_op.alter_column("validation_token", new_column_name="validation_token_hash", existing_type=sa.String(96), existing_nullable=True)
        batch_op.create_unique_constraint("uq_credentials_consumer_key_hash", ["consumer_key_hash"])
        batch_op.create_unique_constraint("uq_credentials_validation_token_hash", ["validation_token_hash"])
    op.execute("ALTER TABLE applications RENAME COLUMN app_secret TO secret_sealed")
    if not sqlite:
        op.alter_column("applications", "secret_sealed", type_=sa.String(128), existing_type=sa.String(64), existing_nullable=False)
    op.create_table(
        "secret_key_check",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sealed", sa.String(128), nullable=False),
    )

    credentials = bind.execute(sa.text("SELECT id, consumer_key_hash, validation_token_hash FROM credentials")).all()
    for cred_id, consumer_key, token in credentials:
        bind.execute(
            sa.text("UPDATE credentials SET consumer_key_hash = :key, validation_token_hash = :token WHERE id = :id"),
            {"id": cred_id, "key": key_digest(consumer_key), "token": None if token is None else key_digest(token)},
        )
    applications = bind.execute(sa.text("SELECT id, app_key, secret_sealed FROM applications")).all()
    for app_id, app_key, secret in applications:
        bind.execute(
            sa.text("UPDATE applications SET secret_sealed = :sealed WHERE id = :id"),
            {"id": app_id, "sealed": box.seal(secret, app_key)},
        )
    write_check(bind, box)
    if sqlite:
        op.execute(f"PRAGMA secure_delete = {secure_delete}")


def downgrade() -> None:
    raise RuntimeError("0011 cannot be undone: consumer keys are stored as digests only")
