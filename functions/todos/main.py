"""The `todos` function (/v1/todos): todos, sub-todos, recurrence, todo tags, sharing."""

import uuid
from datetime import UTC, datetime

import flask
import functions_framework

from common import errors
from common.db import todos as db
from common.db.access import OWNER, TODOS, WRITE
from common.http import Api, Ctx, Reply
from common.resources import Resource, add_crud_routes
from common.schemas.shares import TodoShareIn, TodoShareOut, TodoSharePage
from common.schemas.todos import (
    SHAREE_WRITABLE,
    TodoCreate,
    TodoListQuery,
    TodoOut,
    TodoPage,
    TodoUpdate,
)
from common.sharing import add_sharing_routes

api = Api("todos")
TODO = Resource(
    spec=TODOS,
    path="/v1/todos",
    out=TodoOut,
    page=TodoPage,
    create_body=TodoCreate,
    update_body=TodoUpdate,
    list_query=TodoListQuery,
    sorts=db.SORTS,
    sharee_writable=SHAREE_WRITABLE,
    get=db.get_todo,
    list_page=db.list_todos,
    create=db.create_todo,
    update=db.update_todo,
    to_out=db.to_out,
    check=lambda body: body.recurrence.problems() if body.recurrence is not None else [],
)
add_crud_routes(api, TODO)
add_sharing_routes(
    api, TODOS, share_in=TodoShareIn, share_out=TodoShareOut, share_page=TodoSharePage
)


@api.route(
    "POST", "/<uuid:item_id>/complete", response=TodoOut, errors=(403, 412), headers=("If-Match",)
)
def complete_todo(ctx: Ctx, item_id: uuid.UUID) -> Reply:
    """Mark done; a recurring todo moves to its next occurrence instead, until its series ends."""
    row = db.get_todo_for_completion(ctx.session, me=ctx.user_id, item_id=item_id)
    if row is None:
        raise errors.NotFound("No such todo.")
    wanted = ctx.if_match()
    if row["access"] not in (OWNER, WRITE):
        raise errors.Forbidden("Your access to this todo does not allow this.")
    if wanted is not None and row["version"] not in wanted:
        raise errors.PreconditionFailed()
    db.update_todo(
        ctx.session,
        me=ctx.user_id,
        item_id=item_id,
        changes=db.next_schedule(row, now=datetime.now(UTC)),
        versions=frozenset({row["version"]}),
        allowed=(OWNER, WRITE),
    )
    return TODO.current(ctx, item_id)


@api.route(
    "POST", "/<uuid:item_id>/reopen", response=TodoOut, errors=(403, 412), headers=("If-Match",)
)
def reopen_todo(ctx: Ctx, item_id: uuid.UUID) -> Reply:
    """Mark not done again."""
    db.update_todo(
        ctx.session,
        me=ctx.user_id,
        item_id=item_id,
        changes={"done": False},
        versions=ctx.if_match(),
        allowed=(OWNER, WRITE),
    )
    return TODO.current(ctx, item_id)


@functions_framework.http
def todos(request: flask.Request) -> flask.Response:
    return api.handle(request)
