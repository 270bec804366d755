"""A test-only function: one body route, so the pipeline's body rules can be tested through a
real functions-framework entry point before (and independently of) the product routes; and
routes that stage transaction conflicts for the retry tests (tests/reliability/faults.py)."""

import uuid

import flask
import functions_framework
from pydantic import Field
from sqlalchemy import text

from common.http import Api, Reply
from common.schemas import Schema, Str

api = Api("echo")


def _faults():  # type: ignore[no-untyped-def]
    # Imported on use: the echo function also runs in a server process, without `tests`.
    from tests.reliability import faults

    return faults


class Inner(Schema):
    interval: int = Field(ge=1)


class EchoIn(Schema):
    title: Str = Field(min_length=1, max_length=10)
    count: int = 0
    recurrence: Inner | None = None


@api.route("POST", "/items", public=True, body=EchoIn, response=EchoIn, status=201)
def create_item(ctx, body: EchoIn) -> Reply:  # type: ignore[no-untyped-def]
    """Echo the validated body."""
    return Reply(body, status=201)


@api.route("GET", "/boom", public=True)
def boom(ctx) -> None:  # type: ignore[no-untyped-def]
    """Fail unexpectedly, with a secret in the message."""
    raise RuntimeError("SELECT secret_column FROM internal_table")


@api.route("POST", "/skew/<uuid:user_id>", public=True, response=EchoIn, status=201)
def write_skew(ctx, user_id: uuid.UUID) -> Reply:  # type: ignore[no-untyped-def]
    """Write skew under SERIALIZABLE: count the user's todos, meet the other request, add one.
    Of two such transactions running side by side, PostgreSQL aborts one (40001)."""
    faults = _faults()
    faults.count("skew")
    session = ctx.session
    session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
    seen = session.execute(
        text("SELECT count(*) FROM todos WHERE user_id = :u"), {"u": user_id}
    ).scalar_one()
    faults.rendezvous()
    session.execute(
        text("INSERT INTO todos (user_id, title) VALUES (:u, :t)"),
        {"u": user_id, "t": f"skew after {seen}"},
    )
    return Reply(EchoIn(title="skew", count=seen), status=201)


@api.route("POST", "/lock/<uuid:first>/<uuid:second>", public=True, status=204)
def lock_in_order(ctx, first: uuid.UUID, second: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    """Lock two todos in this order, meeting the other request in between: two requests in
    opposite orders deadlock, and PostgreSQL aborts one (40P01)."""
    faults = _faults()
    faults.count("lock")
    touch = text("UPDATE todos SET title = title WHERE id = :id")
    ctx.session.execute(touch, {"id": first})
    faults.rendezvous()
    ctx.session.execute(touch, {"id": second})


@api.route("POST", "/flaky", public=True, status=204)
def flaky(ctx) -> None:  # type: ignore[no-untyped-def]
    """Raise the next staged failure, if any, after opening the transaction."""
    faults = _faults()
    faults.count("flaky")
    ctx.session.execute(text("SELECT 1"))
    faults.raise_pending()


# A value the log must never show (tests/reliability/test_log_hygiene.py).
SECRET_EMAIL = "never-logged@example.com"


@api.route("GET", "/broken-sql", public=True)
def broken_sql(ctx) -> None:  # type: ignore[no-untyped-def]
    """Fail in the database (no such table), with an email among the statement's values."""
    ctx.session.execute(text("SELECT :email FROM no_such_table"), {"email": SECRET_EMAIL})


@functions_framework.http
def echo(request: flask.Request) -> flask.Response:
    return api.handle(request)
