"""A test-only function: one body route, so the pipeline's body rules can be tested through a
real functions-framework entry point before (and independently of) the product routes."""

import flask
import functions_framework
from pydantic import Field

from common.http import Api, Reply
from common.schemas import Schema, Str

api = Api("echo")


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


@functions_framework.http
def echo(request: flask.Request) -> flask.Response:
    return api.handle(request)
