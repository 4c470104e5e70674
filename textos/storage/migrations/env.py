"""Alembic environment: runs on the connection Textos hands over (or the configured URL)."""

from alembic import context
from sqlalchemy import create_engine

from textos.storage import models_billing, models_bulk, models_reports  # noqa: F401  (register their tables)
from textos.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic: no connection given and no sqlalchemy.url configured")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
