"""Alembic environment: the same engine code as the functions (connector in production)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from common.db.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _engine():  # type: ignore[no-untyped-def]
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return create_engine(url, poolclass=NullPool)
    from common.config import get_settings
    from common.db import make_engine

    return make_engine(get_settings(), pooled=False)


def run_migrations() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")
    engine = _engine()
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
