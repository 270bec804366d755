"""A handler's result as a response: `Reply`, `etag`, and the conversion."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import flask
from pydantic import BaseModel


@dataclass(frozen=True)
class Json:
    """A body that is already the route's response schema as JSON text, sent as it is.

    For representations PostgreSQL builds (common.shareable): what our own SQL wrote is not
    parsed and validated again on every request; tests hold it to the schema instead."""

    text: str

    @classmethod
    def page(cls, items: list[str], next_cursor: str | None) -> Json:
        """A list page (`items`, `next_cursor`) of items that are JSON texts."""
        return cls(f'{{"items":[{",".join(items)}],"next_cursor":{json.dumps(next_cursor)}}}')


@dataclass
class Reply:
    """A handler's answer when 200 with a body is not the whole story. `body` is a model,
    the response schema's fields (a mapping; other keys, such as a row's `version`, are left
    out by the route's schema), or the schema's JSON (`Json`)."""

    body: BaseModel | Mapping[Any, Any] | Json | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def etag(version: int) -> dict[str, str]:
    """The ETag header of a resource at `version`."""
    return {"ETag": f'"{version}"'}


def json_response(
    body: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        body.model_dump_json(), status=status, headers=headers, mimetype="application/json"
    )


def to_response(result: Any, *, schema: type[BaseModel] | None, status: int) -> flask.Response:
    """The response of a handler's `result` on a route answering `status` with `schema`."""
    if isinstance(result, flask.Response):
        return result
    if result is None:
        result = Reply(status=204)
    if not isinstance(result, Reply):
        result = Reply(result, status)
    body = result.body
    if isinstance(body, Json):
        return flask.Response(
            body.text, status=result.status, headers=result.headers, mimetype="application/json"
        )
    if body is None:
        response = flask.Response(status=result.status, headers=result.headers)
        del response.headers["Content-Type"]  # no body, no media type (not text/html)
        return response
    if isinstance(body, Mapping):
        if schema is None:
            raise TypeError("a mapping result needs the route's response schema")
        body = schema.model_validate(dict(body), extra="ignore")
    if not isinstance(body, BaseModel):
        raise TypeError(f"handler returned {type(body).__name__}")
    return json_response(body, result.status, result.headers)


def without_reading_the_body(response: flask.Response) -> flask.Response:
    """The response, sent without reading what is left of the request body.

    functions-framework reads the whole request body after every response (its after-request
    hook `read_request`), unless the response is streamed. A request body is never worth
    that: the pipeline reads at most 64 KiB of it, and only on a route that takes one, after
    the caller is authenticated. So every response goes out as a one-piece stream with its
    own Content-Length: a body that never ends, or 30 MB sent without a token, is answered at
    once instead of being waited for and held in memory. The server then discards what is
    left on the connection (gunicorn drains a bounded amount, then closes it)."""
    if response.status_code in (204, 304) or response.is_streamed:
        return response
    data = response.get_data()
    response.response = iter((data,))
    response.headers["Content-Length"] = str(len(data))
    return response
