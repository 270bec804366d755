"""pg8000 as the functions drive it (common.db.engine._pipeline_statements): one round trip
per statement and per commit, with the answers and errors of pg8000's own three-trip
sequence. Round trips are counted by a loopback proxy between the driver and the server
(devtools/latency_proxy.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pg8000
import pg8000.core
import pg8000.native
import pytest
from sqlalchemy import Engine, create_engine, exc, text

from common.db import engine as engine_module
from devtools import database as db
from devtools.latency_proxy import LatencyProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(database_url: str) -> Iterator[LatencyProxy]:
    engine_module._pipeline_statements()
    with LatencyProxy(database_url) as proxy:
        yield proxy


@pytest.fixture
def proxied(proxy: LatencyProxy) -> Iterator[Engine]:
    engine = create_engine(proxy.url, pool_size=1)
    yield engine
    engine.dispose()


def test_the_locked_pg8000_is_pipelined() -> None:
    """Fails when pg8000 is upgraded past the release the patch knows: read its
    `CoreConnection.execute_unnamed`, then widen PIPELINED_PG8000 (or drop the patch)."""
    engine_module._pipeline_statements()
    assert pg8000.__version__.startswith(engine_module.PIPELINED_PG8000)
    assert getattr(pg8000.core.CoreConnection.execute_unnamed, "pipelined", False)


def test_a_statement_and_a_commit_take_one_round_trip_each(
    proxy: LatencyProxy, proxied: Engine
) -> None:
    with proxied.connect() as conn:  # connecting and SQLAlchemy's first queries
        conn.commit()
        start = proxy.turns
        conn.execute(text("SELECT CAST(:x AS integer) + 1"), {"x": 1})  # BEGIN, then it
        after_statement = proxy.turns
        conn.commit()
        after_commit = proxy.turns
    assert (after_statement - start, after_commit - after_statement) == (2, 1)


def test_answers_are_unchanged(proxied: Engine) -> None:
    with proxied.connect() as conn:
        row = conn.execute(
            text("SELECT CAST(:n AS integer) * 2 AS n, CAST(:s AS text) AS s, NULL AS z"),
            {"n": 21, "s": "ünï"},
        ).one()
        assert tuple(row) == (42, "ünï", None)
        assert list(row._fields) == ["n", "s", "z"]
        rows = conn.execute(
            text("SELECT g FROM generate_series(1, CAST(:k AS integer)) AS g"), {"k": 3}
        ).all()
        assert [r.g for r in rows] == [1, 2, 3]
        # no result columns (NoData) and a row count
        conn.execute(text("CREATE TEMP TABLE t (v integer)"))
        done = conn.execute(text("INSERT INTO t SELECT generate_series(1, :k)"), {"k": 4})
        assert done.rowcount == 4
        conn.rollback()


@pytest.mark.parametrize(
    ("sql", "params", "state"),
    [
        ("SELEC :x", {"x": 1}, "42601"),  # refused at Parse: syntax_error
        ("SELECT CAST(:x AS integer)", {"x": "nan"}, "22P02"),  # at Bind: invalid input
        ("SELECT 1 / CAST(:x AS integer)", {"x": 0}, "22012"),  # while running
    ],
    ids=["parse", "bind", "run"],
)
def test_an_error_leaves_the_connection_usable(
    proxied: Engine, sql: str, params: dict[str, object], state: str
) -> None:
    with proxied.connect() as conn:
        with pytest.raises(exc.DBAPIError) as raised:
            conn.execute(text(sql), params)
        assert engine_module.sqlstate(raised.value) == state
        conn.rollback()
        assert conn.execute(text("SELECT CAST(:x AS integer)"), {"x": 7}).scalar_one() == 7


def test_copy_in_and_out(database_url: str) -> None:
    """COPY with a stream (scripts/seed.py loads this way) goes through the same method."""
    engine_module._pipeline_statements()
    con = pg8000.native.Connection(**db.pg8000_arguments(database_url))
    try:
        con.run("CREATE TEMP TABLE c (a integer, b text)")
        con.run("COPY c FROM STDIN", stream=io.BytesIO(b"1\tx\n2\ty\n"))
        out = io.BytesIO()
        con.run("COPY (SELECT * FROM c ORDER BY a) TO STDOUT", stream=out)
        assert out.getvalue() == b"1\tx\n2\ty\n"
        assert con.run("SELECT count(*) FROM c WHERE a > :a", a=0) == [[2]]
    finally:
        con.close()
