"""Alembic environment: runs migrations on the connection ttp hands over (or the configured URL)."""

from alembic import context
from sqlalchemy import create_engine

from ttp.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:  # ttp.db.alembic_config always sets it; a bare `alembic` run may not
        raise RuntimeError("no sqlalchemy.url in the alembic configuration")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
