"""pg8000 as every engine here drives it (common/db/engine.py), on both ways in:

- `database_url`: `make_engine` with a `DATABASE_URL` (dev, tests, alembic, the scripts);
- `cloud_sql`: `engine_for` with a `creator=` that connects as the Cloud SQL connector
  does: a TLS socket to the instance's server-side proxy, handed with our connection
  arguments to the connector's own pg8000 helper (`google.cloud.sql.connector.pg8000.
  connect`, which calls `pg8000.dbapi.connect(..., sock=...)`). The server-side proxy is a
  stand-in at the network boundary: TLS on loopback, forwarding to the test database.

On both: the connections are `pg8000.dbapi` ones, the placeholder rewrite is served from
its cache, a statement and a commit take one round trip each with the answers and errors
of pg8000's own three-trip sequence, a transaction's BEGIN goes with its first statement,
a checkout costs no round trip yet replaces a connection the server closed, a read-only
checkout reads in one round trip per statement and cannot write, and a server that
vanishes cannot hang a request. Round trips are counted by a loopback proxy in front of
the server (devtools/latency_proxy.py).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import io
import ipaddress
import re
import secrets
import select
import selectors
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pg8000.core
import pg8000.dbapi
import pg8000.legacy
import pg8000.native
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.cloud.sql.connector import pg8000 as connector_pg8000
from sqlalchemy import Engine, event, exc, text

from common.config import Settings
from common.db import engine as engine_module
from devtools import database as db
from devtools.latency_proxy import LatencyProxy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WAYS = ["database_url", "cloud_sql"]


def self_signed() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and its key, PEM (the stand-in's; Cloud SQL's are its CA's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloud-sql-stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class ServerSideProxy:
    """Stands in for a Cloud SQL instance's server-side proxy: TLS in, the plain PostgreSQL
    protocol out to `upstream`. `vanish()` stops it answering, its connections left open,
    as a server does that disappears in a failover or behind a network partition.
    `reset_open()`: each connection open now passes the client's next write on, then ends
    with a reset instead of an answer, as a host that failed over after receiving it."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.cert, key = self_signed()
        with tempfile.TemporaryDirectory() as folder:
            cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert_file.write_bytes(self.cert)
            key_file.write_bytes(key)
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.listener.getsockname()
        self.vanished = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[Any] = []  # closed on exit
        self.doomed: set[Any] = set()  # client sockets to reset after their next write

    def __enter__(self) -> ServerSideProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closed.set()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError, ValueError):
                sock.close()

    def vanish(self) -> None:
        self.vanished.set()

    def reset_open(self) -> None:
        self.doomed.update(sock for sock in self.sockets if isinstance(sock, ssl.SSLSocket))

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        # One thread per connection reads and writes both sockets: an SSL object must not be
        # used by two threads at once.
        try:
            client = self.tls.wrap_socket(raw, server_side=True)
            server = socket.create_connection(self.upstream)
        except OSError:
            raw.close()
            return
        self.sockets += [client, server]
        with contextlib.suppress(OSError), client, server, selectors.DefaultSelector() as pick:
            pick.register(client, selectors.EVENT_READ, server)
            pick.register(server, selectors.EVENT_READ, client)
            while not self.closed.is_set():
                for key, _ in pick.select(timeout=0.5):
                    source, target = key.fileobj, key.data
                    assert isinstance(source, socket.socket)
                    chunk = source.recv(65536)
                    while isinstance(source, ssl.SSLSocket) and source.pending():
                        chunk += source.recv(65536)
                    if not chunk:
                        return
                    if not self.vanished.is_set():
                        target.sendall(chunk)
                    if source in self.doomed:  # RST, no close_notify, no FIN
                        linger = struct.pack("ii", 1, 0)
                        source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                        return


def connect_as_the_connector(proxy: ServerSideProxy, url: str, settings: Settings) -> Any:
    """What `Connector.connect(instance, "pg8000", user=..., db=..., **connect_arguments)`
    does once it knows the instance's address and certificates (connector.py, 1.23): a TLS
    1.3 socket to the server-side proxy, then its pg8000 helper with the keyword arguments."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=proxy.cert.decode())
    ip, port = proxy.address
    sock = context.wrap_socket(socket.create_connection((ip, port)), server_hostname=ip)
    database = db.pg8000_arguments(url)
    kwargs = {"user": database["user"], "password": database["password"]}
    return connector_pg8000.connect(
        ip, sock, **kwargs, db=database["database"], **engine_module.connect_arguments(settings)
    )


@contextlib.contextmanager
def engine_by(way: str, proxy: LatencyProxy, **settings: Any) -> Iterator[tuple[Engine, Any]]:
    """An engine on `proxy`'s database as production makes it, connected the `way` named,
    and the server-side proxy it goes through (`cloud_sql`; None for `database_url`)."""
    given = Settings(database_url=proxy.url, db_pool_size=1, db_max_overflow=0, **settings)
    with contextlib.ExitStack() as stack:
        if way == "database_url":
            stand_in = None
            engine = engine_module.make_engine(given)
        else:
            stand_in = stack.enter_context(ServerSideProxy(("127.0.0.1", proxy.port)))
            engine = engine_module.engine_for(
                lambda: connect_as_the_connector(stand_in, proxy.url, given), given
            )
        stack.callback(engine.dispose)
        yield engine, stand_in


@pytest.fixture
def proxy(database_url: str) -> Iterator[LatencyProxy]:
    with LatencyProxy(database_url) as proxy:
        yield proxy


@pytest.fixture(params=WAYS)
def proxied(request: pytest.FixtureRequest, proxy: LatencyProxy) -> Iterator[Engine]:
    with engine_by(request.param, proxy) as (engine, _):
        yield engine


# --- the pg8000 the changes were made for ---------------------------------------


def test_pg8000_is_pinned_to_the_release_the_changes_were_made_for() -> None:
    release = engine_module.PG8000_RELEASE
    assert importlib.metadata.version("pg8000") == release
    assert f'"pg8000=={release}"' in (ROOT / "pyproject.toml").read_text()
    for lock in ("runtime.txt", "runtime-notifications.txt", "dev.txt"):
        assert re.search(
            rf"^pg8000=={re.escape(release)}$", (ROOT / "requirements" / lock).read_text(), re.M
        )


def test_every_change_is_applied_at_import() -> None:
    """Fails when the installed pg8000 is not the one the changes were made for (another
    release, or the same version number with other source): read its `convert_paramstyle`,
    `CoreConnection.execute_unnamed`, `Cursor.execute` and `Connection.commit` (and what the
    replacements call), then redo or drop each change and put the new digests in
    `_STOCK_SOURCES`."""
    assert engine_module.PG8000_CHANGES == {
        engine_module.CACHED: True,
        engine_module.PIPELINED: True,
        engine_module.BEGUN: True,
    }
    rewrite = pg8000.dbapi.convert_paramstyle
    assert pg8000.legacy.convert_paramstyle is rewrite  # both cursor classes' name for it
    assert (
        engine_module.stock_source_digest(rewrite.stock)
        == engine_module._STOCK_SOURCES[engine_module.CACHED]
    )
    run = pg8000.core.CoreConnection.execute_unnamed
    helpers = engine_module._pipeline_sources()[1:]
    digest = engine_module.stock_source_digest(run.stock, *helpers)
    assert digest == engine_module._STOCK_SOURCES[engine_module.PIPELINED]
    execute, commit = pg8000.dbapi.Cursor.execute, pg8000.dbapi.Connection.commit
    relied_on = engine_module._begin_sources()[2:]
    digest = engine_module.stock_source_digest(execute.stock, commit.stock, *relied_on)
    assert digest == engine_module._STOCK_SOURCES[engine_module.BEGUN]


def stock_pg8000(monkeypatch: pytest.MonkeyPatch) -> None:
    """pg8000's own functions back in place, as before this module's import."""
    rewrite = pg8000.dbapi.convert_paramstyle.stock
    monkeypatch.setattr(pg8000.dbapi, "convert_paramstyle", rewrite)
    monkeypatch.setattr(pg8000.legacy, "convert_paramstyle", rewrite)
    monkeypatch.setattr(
        pg8000.core.CoreConnection,
        "execute_unnamed",
        pg8000.core.CoreConnection.execute_unnamed.stock,
    )
    for cls, name in ((pg8000.dbapi.Cursor, "execute"), (pg8000.dbapi.Connection, "commit")):
        monkeypatch.setattr(cls, name, getattr(cls, name).stock)


def test_another_pg8000_release_runs_as_it_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    stock_pg8000(monkeypatch)
    monkeypatch.setattr(pg8000, "__version__", "1.31.7")
    assert engine_module._change_pg8000() == {
        engine_module.CACHED: False,
        engine_module.PIPELINED: False,
        engine_module.BEGUN: False,
    }
    assert not hasattr(pg8000.dbapi.convert_paramstyle, "stock")
    assert not hasattr(pg8000.core.CoreConnection.execute_unnamed, "stock")
    assert not hasattr(pg8000.dbapi.Cursor.execute, "stock")


def test_the_same_release_with_other_source_runs_as_it_ships(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stock_pg8000(monkeypatch)
    handle = pg8000.core.CoreConnection.handle_messages  # one the replacement calls

    def handle_messages(self: Any, context: Any) -> None:  # same behaviour, other source
        handle(self, context)

    monkeypatch.setattr(pg8000.core.CoreConnection, "handle_messages", handle_messages)
    assert engine_module._change_pg8000() == {
        engine_module.CACHED: True,
        engine_module.PIPELINED: False,
        engine_module.BEGUN: False,  # it sends its BEGIN through the pipelined statement
    }
    assert not hasattr(pg8000.core.CoreConnection.execute_unnamed, "stock")
    assert not hasattr(pg8000.dbapi.Cursor.execute, "stock")
    assert hasattr(pg8000.dbapi.convert_paramstyle, "stock")  # the other change still holds


def test_other_source_of_cursor_execute_runs_it_as_it_ships(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stock_pg8000(monkeypatch)
    execute = pg8000.dbapi.Cursor.execute

    def other(self: Any, operation: str, args: Any = (), stream: Any = None) -> None:
        execute(self, operation, args, stream)

    monkeypatch.setattr(pg8000.dbapi.Cursor, "execute", other)
    assert engine_module._change_pg8000() == {
        engine_module.CACHED: True,
        engine_module.PIPELINED: True,
        engine_module.BEGUN: False,
    }
    assert pg8000.dbapi.Cursor.execute is other


# --- what a connection of either way gets -----------------------------------------


def test_connections_are_pg8000_dbapi_ones(proxied: Engine, request: pytest.FixtureRequest) -> None:
    with proxied.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert type(raw) is pg8000.dbapi.Connection
        assert raw.cursor().__class__ is pg8000.dbapi.Cursor
        assert isinstance(raw._usock, ssl.SSLSocket) == ("cloud_sql" in request.node.name)
        assert conn.execute(text("SHOW application_name")).scalar_one() == "sealy"
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"  # the startup parameters


def test_the_placeholder_rewrite_comes_from_its_cache(proxied: Engine) -> None:
    rewrite = pg8000.dbapi.convert_paramstyle
    statement = text(f"SELECT CAST(:x AS integer) /* {secrets.token_hex(8)} */")  # new text
    with proxied.connect() as conn:
        before = rewrite.cache_info()
        assert conn.execute(statement, {"x": 1}).scalar_one() == 1
        first = rewrite.cache_info()
        assert conn.execute(statement, {"x": 2}).scalar_one() == 2
        second = rewrite.cache_info()
    assert (first.misses - before.misses, first.hits - before.hits) == (1, 0)
    assert (second.misses - first.misses, second.hits - first.hits) == (0, 1)


class Checkout:
    """A connection of `engine` that one step checks out and later steps use, and the
    trips each step took (`trips`)."""

    def __init__(self, engine: Engine, proxy: LatencyProxy) -> None:
        self.engine, self.proxy = engine, proxy
        self.conn: Any = None
        self.begun: list[bool] = []  # after each statement: is a transaction open?

    def check_out(self) -> None:
        self.conn = self.engine.connect()

    def run(self, statement: str, **params: int) -> None:
        assert self.conn.execute(text(statement), params).scalar_one() == 2
        self.begun.append(self.conn.connection.dbapi_connection._in_transaction)

    def trips(self, steps: list[Any]) -> list[int]:
        counts = []
        for step in steps:
            before = self.proxy.turns
            step()
            counts.append(self.proxy.turns - before)
        return counts


WITH_PARAMETERS = ("SELECT CAST(:x AS integer) + 1", {"x": 1})
WITHOUT = ("SELECT 2", {})  # no parameters: pg8000 sends a simple Query


@pytest.mark.parametrize("first", ["with parameters", "without"])
def test_a_write_takes_one_round_trip_per_statement_and_one_for_the_commit(
    proxy: LatencyProxy, proxied: Engine, first: str
) -> None:
    """The checkout (the pool's liveness check) costs none; the BEGIN goes with the first
    statement, whichever way pg8000 sends it; a commit with nothing begun costs none."""
    with proxied.connect():  # connecting and SQLAlchemy's first queries, not counted
        pass
    one, two = (
        (WITH_PARAMETERS, WITHOUT) if first == "with parameters" else (WITHOUT, WITH_PARAMETERS)
    )
    s = Checkout(proxied, proxy)
    steps = [s.check_out, lambda: s.run(one[0], **one[1]), lambda: s.run(two[0], **two[1])]
    steps += [lambda: s.conn.commit(), lambda: s.conn.commit(), lambda: s.conn.close()]
    assert s.trips(steps) == [0, 1, 1, 1, 0, 0]  # the second commit: nothing begun
    assert s.begun == [True, True]


def test_a_read_only_checkout_takes_one_round_trip_per_statement(
    proxy: LatencyProxy, proxied: Engine
) -> None:
    """Each statement a read-only transaction of its own, begun and ended in its write."""
    with proxied.connect():
        pass
    s = Checkout(proxied, proxy)
    with engine_module.reading_only():
        steps = [s.check_out, lambda: s.run(WITH_PARAMETERS[0], **WITH_PARAMETERS[1])]
        steps += [lambda: s.run(WITHOUT[0]), lambda: s.conn.commit(), lambda: s.conn.close()]
        assert s.trips(steps) == [0, 1, 1, 0, 0]
    assert s.begun == [False, False]
    with proxied.connect() as conn:  # outside reading_only: a transaction again
        conn.execute(text("SELECT 1"))
        assert conn.connection.dbapi_connection._in_transaction
        conn.rollback()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE users SET username = :name WHERE false", {"name": "x"}),
        ("CREATE TEMP TABLE never (v integer)", {}),
    ],
    ids=["with parameters", "without"],
)
def test_a_read_only_checkout_cannot_write(
    proxied: Engine, sql: str, params: dict[str, str]
) -> None:
    with engine_module.reading_only(), proxied.connect() as conn:
        with pytest.raises(exc.DBAPIError) as refused:
            conn.execute(text(sql), params)
        assert engine_module.sqlstate(refused.value) == "25006"  # read_only_sql_transaction
        assert not conn.connection.dbapi_connection._in_transaction  # ended, nothing kept
        assert conn.execute(text("SELECT CAST(:x AS integer)"), {"x": 7}).scalar_one() == 7


def test_a_connection_the_server_closed_is_replaced_at_checkout(
    proxied: Engine, engine: Engine
) -> None:
    """The check asks the kernel whether the idle connection's socket has anything to read:
    here the server's FATAL message and the end of the connection, after a side connection
    terminated its backend. One failed check; the request gets a new connection."""
    failed_checks: list[str] = []

    @event.listens_for(proxied.pool, "invalidate")
    def invalidated(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        if isinstance(exception, exc.DisconnectionError):  # what the checkout's check raises
            failed_checks.append(repr(exception))

    with proxied.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        sock = conn.connection.dbapi_connection._usock
        conn.commit()
    with engine.connect() as side:
        assert side.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        side.commit()
    # Until the end of the connection has reached its socket (it travels through the
    # proxies): the kernel's word, bounded so that a lost one fails instead of hanging.
    assert select.select([sock], [], [], 30)[0], "the server's close never arrived"
    with proxied.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        conn.commit()
    assert len(failed_checks) == 1, failed_checks


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
        ("SELEC 1", {}, "42601"),  # no parameters: a simple Query
    ],
    ids=["parse", "bind", "run", "simple"],
)
def test_an_error_leaves_the_connection_usable(
    proxied: Engine, sql: str, params: dict[str, object], state: str
) -> None:
    """A failing first statement, sent with its BEGIN, leaves the transaction begun and
    aborted, as when the BEGIN went first on its own; the rollback ends it."""
    with proxied.connect() as conn:
        with pytest.raises(exc.DBAPIError) as raised:
            conn.execute(text(sql), params)
        assert engine_module.sqlstate(raised.value) == state
        with pytest.raises(exc.DBAPIError) as aborted:
            conn.execute(text("SELECT 1"))
        assert engine_module.sqlstate(aborted.value) == "25P02"  # in_failed_sql_transaction
        conn.rollback()
        assert conn.execute(text("SELECT CAST(:x AS integer)"), {"x": 7}).scalar_one() == 7


def test_a_vanished_server_cannot_hang_a_request(proxy: LatencyProxy) -> None:
    """The connector hands pg8000 a socket without a timeout; the engine gives it ours
    (statement timeout + connect timeout: 2 + 1 s here, short for a test, long beside what
    the setup's statements take even on a loaded machine). The thread's join is there only
    so that a hang fails the test instead of stalling the run."""
    outcome: list[tuple[str, bool]] = []  # what the request raised, and is it a 503
    quick = {"db_statement_timeout_ms": 2000, "db_connect_timeout_s": 1.0}
    with engine_by("cloud_sql", proxy, **quick) as (engine, stand_in), engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw._usock.gettimeout() == pytest.approx(3.0)
        # pg8000 reads through a file object over its socket. Closing a connection whose
        # read timed out, it fails to write its goodbye and drops that file unclosed, so
        # the socket stays open for as long as something (the pool's logged traceback,
        # kept by pytest) refers to it: closed here, not by the garbage collector.
        stand_in.sockets.append(raw._sock)
        conn.commit()
        stand_in.vanish()

        def query() -> None:
            try:
                conn.execute(text("SELECT 1"))
                outcome.append(("answered", False))
            except Exception as failure:  # what it raised is the point
                outcome.append((repr(failure), engine_module.is_unavailable(failure)))

        worker = threading.Thread(target=query, daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert outcome, "the request hung on a server that stopped answering"
    ((raised, unavailable),) = outcome
    assert unavailable, raised  # a 503 for the client


def test_copy_in_and_out(database_url: str) -> None:
    """COPY with a stream (scripts/seed.py loads this way) goes through the same method."""
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


def test_a_request_whose_connection_is_reset_runs_again_on_a_new_one(
    proxy: LatencyProxy, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the liveness check cannot see (nothing arrived before the request wrote): the
    host answers the first statement with a reset. The request has committed nothing, so
    the pipeline runs it again once, on a new connection; a write lands exactly once (the
    first attempt's reached the server, which rolled it back when the connection ended).
    Through the functions' entry points, the process's engine being `engine_by`'s."""
    from tests.factories import register

    with engine_by("cloud_sql", proxy) as (engine, stand_in):

        def reset() -> None:
            # pg8000's file over the pooled socket, closed by the stand-in on exit: a
            # connection that breaks leaves it unclosed (see the vanished server's test).
            with engine.connect() as conn:
                stand_in.sockets.append(conn.connection.dbapi_connection._sock)
            stand_in.reset_open()

        monkeypatch.setitem(engine_module._made, "engine", engine)
        owner = register(client)
        title = f"reset-{secrets.token_hex(4)}"
        reset()
        created = client.post("/v1/todos", json={"title": title}, headers=owner.headers)
        assert created.status_code == 201, created.get_data(as_text=True)
        reset()
        page = client.get("/v1/todos?limit=50", headers=owner.headers)
        assert page.status_code == 200, page.get_data(as_text=True)
        assert [item["title"] for item in page.get_json()["items"]] == [title]
