"""One engine per process, created on first use, and the per-request statement counter.

Production connects through the Cloud SQL Python Connector, dev and test by `DATABASE_URL`.
Both hand SQLAlchemy a `pg8000.dbapi.Connection` through `creator=` (`engine_for`): the
connector's pg8000 helper calls `pg8000.dbapi.connect(user, database=..., sock=<its TLS
socket>, ...)`, and `_connect_url` calls the same function with the URL's parts, so
everything above the socket is the same code path.

Three changes to pg8000 itself are made when this module is imported, so every process that
imports `common.db` (the functions, alembic, the scripts, the tests) runs the same driver:
its placeholder rewrite is cached (`_cache_placeholder_rewrite`), a statement with
parameters goes to the server in one round trip instead of three (`_pipeline_statements`),
and a transaction's BEGIN goes out with its first statement, not as a round trip of its own
(`_begin_with_the_first_statement`). Each replaces pg8000 functions only if pg8000 is the
pinned release and the source of every function it replaces or relies on is the source read
for it (`_STOCK_SOURCES`); otherwise pg8000 runs as it ships (slower, never wrong), a warning
is logged, and tests/integration/test_driver.py fails. `PG8000_CHANGES` says what was applied.

What a request costs in round trips (docs/benchmarks.md): checking out a connection, none
(`_check_on_checkout` asks the kernel); a read route (`reading_only`), one per statement,
each its own read-only transaction; a write, one per statement (the first carries the
BEGIN) and one for the COMMIT.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from common.config import Settings, get_settings

if TYPE_CHECKING:
    from google.cloud.sql.connector import Connector

log = logging.getLogger(__name__)


@dataclass
class QueryStats:
    """What one request asked of the database."""

    count: int = 0
    ms: float = 0.0


_stats: ContextVar[QueryStats | None] = ContextVar("db_query_stats", default=None)
_reads_only: ContextVar[bool] = ContextVar("db_reads_only", default=False)


@contextmanager
def count_queries() -> Iterator[QueryStats]:
    """Counts the statements run on any connection in this context (thread or task)."""
    stats = QueryStats()
    token = _stats.set(stats)
    try:
        yield stats
    finally:
        _stats.reset(token)


@contextmanager
def reading_only() -> Iterator[None]:
    """The connections checked out in this context (thread or task) run each statement as a
    read-only transaction of its own, sent with it in one round trip: a write is refused by
    the server (SQLSTATE 25006), and committing costs nothing. For routes whose database work
    is reading: under READ COMMITTED, which every transaction here runs at, each statement
    takes its own snapshot anyway, so they lose nothing by not sharing a transaction."""
    token = _reads_only.set(True)
    try:
        yield
    finally:
        _reads_only.reset(token)


def _before_execute(conn: Any, cursor: Any, statement: Any, *args: Any) -> None:
    conn.info["query_started"] = time.perf_counter()


def _after_execute(conn: Any, cursor: Any, statement: Any, *args: Any) -> None:
    stats = _stats.get()
    if stats is not None:
        stats.count += 1
        stats.ms += (time.perf_counter() - conn.info.pop("query_started")) * 1000


def _startup_params(settings: Settings) -> dict[str, str]:
    """Server settings sent in the connection's startup packet: no extra round trip."""
    return {
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(settings.db_idle_in_transaction_timeout_ms),
        "timezone": "UTC",
        # JIT compiles a query when its estimated cost passes jit_above_cost; the recursive
        # share CTE's estimate does (its row count is overestimated ~50x), and compiling then
        # took 35-60 ms of a 2-10 ms query (docs/benchmarks.md). No query of ours gains.
        "jit": "off",
        # Random reads cost about what sequential ones do when the data is cached or on SSD
        # (Cloud SQL). At the default 4 the planner hash-joined a caller's shared contacts
        # with a sequential scan of every contact (30 ms) rather than probing the key.
        "random_page_cost": "1.1",
    }


def _socket_timeout(settings: Settings) -> float:
    # pg8000 has one socket timeout for connect and reads: long enough for the longest
    # statement the server allows, short enough that a vanished server cannot hang a request.
    return settings.db_statement_timeout_ms / 1000 + settings.db_connect_timeout_s


def connect_arguments(settings: Settings) -> dict[str, Any]:
    """What every connection is opened with, besides where to and as whom: keyword
    arguments of `pg8000.dbapi.connect`, which the Cloud SQL connector passes through."""
    return {
        "startup_params": _startup_params(settings),
        "timeout": _socket_timeout(settings),
        "application_name": "sealy",
    }


def make_engine(settings: Settings, *, pooled: bool = True) -> Engine:
    """A new engine for these settings; `pooled=False` gives one that keeps no connections."""
    connect_args = connect_arguments(settings)
    if settings.cloud_sql_instance:
        creator = functools.partial(_connect_cloud_sql, settings, connect_args)
    else:
        assert settings.database_url is not None
        creator = functools.partial(_connect_url, make_url(settings.database_url), connect_args)
    return engine_for(creator, settings, pooled=pooled)


def engine_for(creator: Any, settings: Settings, *, pooled: bool = True) -> Engine:
    """The engine `make_engine` makes, opening each connection with `creator()`: a
    `pg8000.dbapi.Connection`, from the Cloud SQL connector or `_connect_url`."""
    pool_args: dict[str, Any] = (
        {
            # Connections per instance; summed over max instances it must stay below
            # Cloud SQL's max_connections (functions.json, checked by a test).
            "pool_size": settings.db_pool_size,
            # Short bursts above pool_size; these connections close when returned.
            "max_overflow": settings.db_max_overflow,
            # Waiting longer than this for a connection means overload: fail fast (503).
            "pool_timeout": settings.db_pool_timeout_s,
            # Recycle before Cloud SQL or a proxy drops an idle connection.
            "pool_recycle": settings.db_pool_recycle_s,
            # Connections the server closed (restarts, failovers) are replaced on checkout,
            # so the first request after an outage succeeds: see _check_on_checkout.
        }
        if pooled
        else {"poolclass": _null_pool()}
    )
    engine = create_engine("postgresql+pg8000://", creator=creator, **pool_args)
    event.listen(engine, "connect", functools.partial(_bound_socket, _socket_timeout(settings)))
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "after_cursor_execute", _after_execute)
    if pooled:
        event.listen(engine, "checkout", _check_on_checkout)
    return engine


def _connect_url(url: URL, connect_args: dict[str, Any]) -> Any:
    """A connection to `DATABASE_URL` made as the Cloud SQL connector makes one: with
    `pg8000.dbapi.connect`, not the `pg8000.legacy` connection SQLAlchemy's dialect would
    make from a URL (another cursor class, which looks the placeholder rewrite up under
    another name and wraps errors differently). The URL's parts become pg8000's arguments as
    the dialect turns them (`unix_sock` from the query included)."""
    import pg8000.dbapi

    args: dict[str, Any] = {**url.translate_connect_args(username="user"), **url.query}
    return pg8000.dbapi.connect(**args, **connect_args)


def _bound_socket(timeout: float, dbapi_connection: Any, record: Any) -> None:
    """Give every connection's socket the timeout and TCP keepalive pg8000 gives the
    sockets it opens itself. The Cloud SQL connector opens the TLS socket and hands it to
    pg8000 (`sock=`), which then uses it as it is: without a timeout, a request to a server
    that vanished without closing the connection (a failover, a network partition) waited
    as long as TCP kept retrying, a quarter of an hour, or for ever on a quiet socket
    without keepalive. (The connection's own setup, inside the connector, stays unbounded:
    its synchronous `connect` waits without a timeout.)"""
    sock = getattr(dbapi_connection, "_usock", None)  # CoreConnection's socket
    if sock is not None:
        sock.settimeout(timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _check_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """The pool's liveness check, at no cost in round trips; and the checkout's mode.

    An idle PostgreSQL connection never has anything to read: every answer was read to its
    ReadyForQuery. So a socket with input means the server closed the connection (its FATAL
    message, then end of file: a restart, a failover, a terminated backend) and it is
    replaced. The kernel is asked (poll, no wait), and on a TLS socket (the Cloud SQL
    connector's) also what its TLS layer has already decrypted (`pending()`); nothing is
    read. It used to send the BEGIN here, a round trip of its own on every request, and
    `pool_pre_ping` a SELECT 1 on top of that (docs/benchmarks.md). What this cannot see
    is a connection that ended without a word reaching us (a host gone in a partition, or
    one that answers the next write with a reset): the request's first statement then
    fails as a disconnect, at once or after the socket's timeout (`_bound_socket`), and
    that invalidates the pool as below. (The BEGIN waited the same timeout for a host gone
    silent; a reset it turned into a new connection for the same request.)

    A failed check means the server went away, so every connection opened before it is as
    dead: `InvalidatePoolError` makes the pool drop them all at once (each is replaced when
    next checked out, without a failing check), as `pool_pre_ping` does, instead of each
    request finding its own dead connection. SQLAlchemy then retries the checkout on a new
    connection, so the request goes on as if nothing happened."""
    if _has_input(dbapi_connection):
        raise InvalidatePoolError("connection check failed: the server closed the connection")
    dbapi_connection.reads_only = _reads_only.get()  # read by the Cursor.execute below


def _has_input(dbapi_connection: Any) -> bool:
    """Something to read on the connection's socket (or no socket left at all)."""
    sock = getattr(dbapi_connection, "_usock", None)
    if sock is None:  # closed on our side
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)  # hang-ups and errors always count
    return bool(poller.poll(0))


# --- pg8000 as this process drives it ------------------------------------------

PG8000_RELEASE = "1.31.6"  # pinned in pyproject.toml; the release the changes were made for
CACHED = "placeholder rewrite cached"
PIPELINED = "one round trip per statement"
BEGUN = "BEGIN sent with the first statement"
# Per change, sha256 of the source (`inspect.getsource`) of the pg8000 functions it replaces
# and calls, in this order, as read in pg8000 1.31.6 when the change was written.
_STOCK_SOURCES = {
    CACHED: "d86b773c239000bdf508e858e061d13b0f9f128cd0e8fd16244ffaa0eb73fad9",
    PIPELINED: "3a27f18933cf54762cd51e78b736f1bdb5dc79c01f71d1f9ba80d5dd485c5db6",
    BEGUN: "15cda1aaad48c5471bd4d2934c7a97b71aa70adc658ade0509f6c386d86055b1",
}


def stock_source_digest(*functions: Any) -> str:
    """What `_STOCK_SOURCES` holds for these functions: sha256 of their source, in order."""
    digest = hashlib.sha256()
    for function in functions:
        digest.update(inspect.getsource(function).encode())
    return digest.hexdigest()


def _unchanged(change: str, *functions: Any) -> bool:
    """pg8000 is the release and these functions are the source the change was made for."""
    import pg8000

    try:
        same = stock_source_digest(*functions) == _STOCK_SOURCES[change]
    except (OSError, TypeError):  # no source to read (a frozen or compiled pg8000)
        same = False
    return getattr(pg8000, "__version__", None) == PG8000_RELEASE and same


def _cache_placeholder_rewrite() -> bool:
    """Keep pg8000's rewrite of a statement's %s placeholders into $1, $2, ...

    pg8000 rewrites every statement, on every execution, with a character-by-character scan
    in Python: 0.5-0.9 ms for our 2 KB statements, as long as a small query's whole run
    (docs/benchmarks.md). For the "format" style SQLAlchemy uses, the result depends on the
    text alone; the parameters pass through unchanged. Both modules whose cursors call it
    look it up by their own global name: `pg8000.dbapi` (the connections of every engine
    here) and `pg8000.legacy` (what `pg8000.connect` and a plain `create_engine` make)."""
    import pg8000.dbapi
    import pg8000.legacy

    stock = pg8000.dbapi.convert_paramstyle
    if pg8000.legacy.convert_paramstyle is not stock or not _unchanged(CACHED, stock):
        return False

    @functools.lru_cache(maxsize=1024)
    def rewritten(query: str) -> str:
        return str(stock("format", query, ())[0])

    def convert_paramstyle(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style != "format":
            return stock(style, query, args)  # type: ignore[no-any-return]
        return rewritten(query), args

    convert_paramstyle.stock = stock  # type: ignore[attr-defined]
    convert_paramstyle.cache_info = rewritten.cache_info  # type: ignore[attr-defined]
    pg8000.dbapi.convert_paramstyle = pg8000.legacy.convert_paramstyle = convert_paramstyle
    return True


def _pipeline_statements() -> bool:
    """Send a statement with parameters in one round trip instead of three.

    pg8000 1.31 runs such a statement as Parse+Sync, wait; Describe+Sync, wait;
    Bind+Execute+Sync, wait; and COMMIT and ROLLBACK go the same way. The extended-query
    protocol allows the whole sequence in one write (Parse, Bind, Describe portal, Execute,
    Sync): the server answers in order, and after an error it skips to the Sync, so the
    connection ends up exactly as with three trips. That is two round trips less per
    statement and per commit: with the database 1 ms away, a two-statement request saves
    6 ms; at the 10 ms the service-level rule allows for, 60 ms (docs/benchmarks.md).
    The parameters are converted before anything is written, so a value pg8000 cannot send
    leaves nothing half-written on the socket.
    """
    import pg8000.core as core
    from pg8000.converters import make_params

    connection = core.CoreConnection
    if not _unchanged(PIPELINED, *_pipeline_sources()):
        return False

    def send_command(self: Any, command: str) -> None:
        # Its CommandComplete ("BEGIN", "COMMIT") carries no row count: the statement's
        # context, which reads every answer of the write, keeps the statement's own.
        self.send_PARSE(core.NULL_BYTE, command, ())
        self.send_BIND(core.NULL_BYTE, ())
        self.send_EXECUTE()

    def execute_unnamed(
        self: Any,
        statement: str,
        vals: Any = (),
        oids: Any = (),
        stream: Any = None,
        *,
        before: tuple[str, ...] = (),
        after: tuple[str, ...] = (),
    ) -> Any:
        """`before` and `after`: commands without parameters or rows (BEGIN, COMMIT) sent
        in the same write (`_begin_with_the_first_statement`). Those before go ahead of the
        statement, before its Sync: should one fail, the server skips the statement. Those
        after follow the Sync as Query messages: they run whatever the statement did."""
        params = make_params(self.py_types, vals)
        context = core.Context(statement, stream=stream)
        for command in before:
            send_command(self, command)
        self.send_PARSE(core.NULL_BYTE, statement, oids)
        self.send_BIND(core.NULL_BYTE, params)
        self._send_message(core.DESCRIBE, core.PORTAL + core.NULL_BYTE)
        self.send_EXECUTE()
        core._write(self._sock, core.SYNC_MSG)
        for command in after:
            self.send_QUERY(command)
        core._flush(self._sock)
        _read_answers(self, [context, *map(core.Context, after)])
        return context

    execute_unnamed.stock = connection.execute_unnamed  # type: ignore[attr-defined]
    connection.execute_unnamed = execute_unnamed
    return True


def _pipeline_sources() -> tuple[Any, ...]:
    """The function `_pipeline_statements` replaces, then those its replacement calls."""
    import pg8000.core as core

    c = core.CoreConnection
    return (
        c.execute_unnamed,
        *(c.send_PARSE, c.send_BIND, c.send_EXECUTE, c._send_message, c.handle_messages),
        *(core._write, core._flush, core.Context.__init__),
    )


BEGIN = "begin transaction"  # pg8000's own wording
BEGIN_READ_ONLY = "begin transaction read only"
COMMIT = "commit"


def _begin_with_the_first_statement() -> bool:
    """Send a transaction's BEGIN in the same write as its first statement, and nothing for
    a commit with nothing begun. Needs `_pipeline_statements` (its `before` and `after`).

    pg8000's `Cursor.execute` sends "begin transaction" as a round trip of its own before
    the first statement of a transaction, and `commit` sends COMMIT even when nothing was
    begun (autocommit, or a request that ran no statement). Here the BEGIN's Parse, Bind and
    Execute go in front of the statement's, before the one Sync (a statement without
    parameters, which pg8000 sends as a simple Query: two Query messages in one write). The
    server runs them in order, so everything behaves as with two trips: a failing first
    statement leaves the transaction begun and aborted, as before, and the request's
    rollback ends it; a serialization failure is the same error as before. (The BEGIN of an
    idle connection does not fail short of the connection ending, and then nothing after it
    runs either. Were it to fail alone, the server would skip the statement after it in the
    extended protocol, whereas a second Query message would run on its own.)

    A connection checked out under `reading_only` (`reads_only`, set by
    `_check_on_checkout`) runs each statement as a transaction of its own: BEGIN READ ONLY
    before it and a COMMIT Query after it, all in the statement's write. The COMMIT ends
    the transaction whatever the statement did (after an error, as a rollback), so such a
    connection is never left in a transaction and a failed read needs no rollback either.
    """
    import pg8000.dbapi as dbapi

    if not _unchanged(BEGUN, *_begin_sources()):
        return False
    stock_execute, stock_commit = dbapi.Cursor.execute, dbapi.Connection.commit

    def execute(self: Any, operation: str, args: Any = (), stream: Any = None) -> None:
        try:
            connection = self._c
            before, after = _around(connection)
            if len(args) == 0 and stream is None:
                self._context = _simple_queries(connection, operation, before, after)
            else:
                statement, vals = dbapi.convert_paramstyle(dbapi.paramstyle, operation, args)
                self._context = connection.execute_unnamed(
                    statement,
                    vals=vals,
                    oids=self._input_oids,
                    stream=stream,
                    before=before,
                    after=after,
                )
            self._row_iter = None if self._context.rows is None else iter(self._context.rows)
            self._input_oids = ()
        except AttributeError as e:  # as pg8000 tells a closed cursor or connection
            if self._c is None:
                raise dbapi.InterfaceError("Cursor closed") from None
            if self._c._sock is None:
                raise dbapi.InterfaceError("connection is closed") from None
            raise e
        self.input_types = []

    def commit(self: Any) -> None:
        if self._in_transaction:
            self.execute_unnamed(COMMIT)

    execute.stock, commit.stock = stock_execute, stock_commit  # type: ignore[attr-defined]
    dbapi.Cursor.execute, dbapi.Connection.commit = execute, commit
    return True


def _around(connection: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The commands to send before and after a statement on this connection."""
    if connection._in_transaction or connection.autocommit:
        return (), ()
    if getattr(connection, "reads_only", False):
        return (BEGIN_READ_ONLY,), (COMMIT,)
    return (BEGIN,), ()


def _simple_queries(
    connection: Any, statement: str, before: tuple[str, ...], after: tuple[str, ...]
) -> Any:
    """pg8000's `execute_simple` of `statement`, with the commands around it in the same
    write: one Query message each; the statement's context."""
    import pg8000.core as core

    statements = (*before, statement, *after)
    for sql in statements:
        connection.send_QUERY(sql)
    core._flush(connection._sock)
    contexts = [core.Context(sql) for sql in statements]
    _read_answers(connection, contexts)
    return contexts[len(before)]


def _read_answers(connection: Any, contexts: list[Any]) -> None:
    """The answers to one write, a context for each ReadyForQuery it brings, every one read
    (so the connection stays in step with the server); then the first error raised."""
    from pg8000.exceptions import DatabaseError, InterfaceError

    first: Exception | None = None
    for context in contexts:
        try:
            connection.handle_messages(context)
        except DatabaseError as failure:  # the server's: its answer was read to the end
            first = first or failure
        except InterfaceError:
            if first is None:
                raise
            break  # pg8000's complaint about the COMMIT that ended the aborted transaction
    if first is not None:
        raise first


def _begin_sources() -> tuple[Any, ...]:
    """The functions `_begin_with_the_first_statement` replaces, then those it relies on."""
    import pg8000.core as core
    import pg8000.dbapi as dbapi

    c = core.CoreConnection
    return (
        *(dbapi.Cursor.execute, dbapi.Connection.commit),
        *(dbapi.Connection._in_transaction.fget, c.execute_simple, c.send_QUERY),
    )


def _change_pg8000() -> dict[str, bool]:
    pipelined = _pipeline_statements()
    changes = {
        CACHED: _cache_placeholder_rewrite(),
        PIPELINED: pipelined,
        BEGUN: pipelined and _begin_with_the_first_statement(),
    }
    if not all(changes.values()):
        import pg8000

        log.warning(
            "pg8000 %s runs as it ships for: %s (the changes in common/db/engine.py are "
            "for pg8000 %s as read; see tests/integration/test_driver.py)",
            getattr(pg8000, "__version__", "?"),
            ", ".join(name for name, done in changes.items() if not done),
            PG8000_RELEASE,
        )
    return changes


def replaced_methods() -> tuple[tuple[type, str], ...]:
    """The pg8000 methods the changes above replace (class, name); each replacement keeps
    pg8000's own as its `stock` attribute. What a measurement of pg8000 as it ships puts back,
    on the classes or on one connection and its cursor (scripts/bench.py,
    scripts/bench_db_latency.py)."""
    import pg8000.core
    import pg8000.dbapi

    return (
        (pg8000.core.CoreConnection, "execute_unnamed"),
        (pg8000.dbapi.Cursor, "execute"),
        (pg8000.dbapi.Connection, "commit"),
    )


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


_made: dict[str, Any] = {}  # the process's engine and connector, once made
_making = threading.Lock()


def _once(name: str, make: Any) -> Any:
    """`make()` the first time, by one thread only, and the same object ever after (two
    threads of a cold instance would each run a `functools.cache`d function)."""
    made = _made.get(name)
    if made is None:
        with _making:
            made = _made.get(name)
            if made is None:
                made = _made[name] = make()
    return made


def _connector(ip_type: str, enable_iam_auth: bool) -> Connector:
    """One Cloud SQL connector per process (it owns certificates and a background loop)."""

    def make() -> Connector:
        from google.cloud.sql.connector import Connector

        # "lazy": refresh certificates on demand; background refresh stalls when Cloud
        # Functions throttles the CPU between requests.
        return Connector(ip_type=ip_type, enable_iam_auth=enable_iam_auth, refresh_strategy="lazy")

    connector: Connector = _once("connector", make)
    return connector


def _connect_cloud_sql(settings: Settings, connect_args: dict[str, Any]) -> Any:
    assert settings.cloud_sql_instance is not None
    connector = _connector(settings.db_ip_type, settings.db_iam_auth)
    password = None if settings.db_password is None else settings.db_password.get_secret_value()
    return connector.connect(
        settings.cloud_sql_instance,
        "pg8000",
        user=settings.db_user,
        password=None if settings.db_iam_auth else password,
        db=settings.db_name,
        **connect_args,
    )


def get_engine() -> Engine:
    """The process's engine, created on first use and reused by every request."""
    engine: Engine = _once("engine", lambda: make_engine(get_settings()))
    return engine


# What the data functions' `session` is: a Core connection. They run Core statements only
# (`session.execute`), so the ORM's Session had nothing to do but cost every cold start
# the import of `sqlalchemy.orm` (~130 ms, docs/benchmarks.md).
Session = Connection


def new_session() -> Session:
    """A connection from the process's pool; the caller owns its transaction (`begin`,
    `commit`; `close` rolls back what was not committed and returns it to the pool)."""
    return get_engine().connect()


PG8000_CHANGES = _change_pg8000()  # at import: every engine of the process gets them


# --- failures -----------------------------------------------------------------

# SQLSTATEs that mean "try again later", not "your request is wrong".
_UNAVAILABLE_STATES = {
    "57014",  # query_canceled (statement_timeout)
    "55P03",  # lock_not_available (lock_timeout)
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up, shutting down)
    "53300",  # too_many_connections
    "08000",  # connection_exception
    "08003",  # connection_does_not_exist
    "08006",  # connection_failure
    "25P03",  # idle_in_transaction_session_timeout
}
_RETRYABLE_STATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind a SQLAlchemy error raised by pg8000, if any."""
    orig = getattr(exc, "orig", None)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot serve us right now: unreachable, restarting, or over a timeout."""
    if isinstance(exc, PoolTimeoutError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    state = sqlstate(exc)
    if state is not None:
        return state in _UNAVAILABLE_STATES
    return isinstance(exc, OperationalError | ConnectionError | TimeoutError)


def is_lost_connection(exc: BaseException) -> bool:
    """The connection broke under a statement (SQLAlchemy invalidated it, and with it the
    pool): the server rolls back whatever that connection had not committed."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def is_retryable(exc: BaseException) -> bool:
    """A conflict between transactions that the same request may safely run again."""
    return sqlstate(exc) in _RETRYABLE_STATES
