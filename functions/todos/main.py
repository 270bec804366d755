"""The `todos` function (/v1/todos): todos, sub-todos, recurrence, todo tags, sharing."""

import uuid
from datetime import UTC, datetime

import flask
import functions_framework

from common import errors
from common.db import todos as db
from common.db.access import OWNER, TODOS, WRITE
from common.http import Api, Ctx, Reply, etag
from common.paging import paginate
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
ITEM = "/<uuid:todo_id>"


def _reply(row: object, status: int = 200) -> Reply:
    todo = TodoOut.model_validate(db.to_out(row))  # type: ignore[arg-type]
    headers = etag(todo.version)
    if status == 201:
        headers["Location"] = f"/v1/todos/{todo.id}"
    return Reply(todo, status, headers)


def _current(ctx: Ctx, todo_id: uuid.UUID) -> Reply:
    row = db.get_todo(ctx.session, me=ctx.user_id, todo_id=todo_id)
    if row is None:
        raise errors.NotFound("No such todo.")
    return _reply(row)


@api.route("GET", "/", query=TodoListQuery, response=TodoPage)
def list_todos(ctx: Ctx, query: TodoListQuery) -> TodoPage:
    """Own todos and those shared with the caller (sub-todos of recursive shares included)."""
    filters = query.model_dump(exclude={"limit", "cursor", "sort"}, mode="json")
    rows, cursor = paginate(
        resource="todo",
        user_id=ctx.user_id,
        sort_name=query.sort,
        sort=db.SORTS[query.sort],
        filters=filters,
        limit=query.limit,
        cursor=query.cursor,
        fetch=lambda after: db.list_todos(ctx.session, me=ctx.user_id, query=query, after=after),
    )
    return TodoPage(items=[TodoOut.model_validate(db.to_out(r)) for r in rows], next_cursor=cursor)


@api.route("POST", "/", body=TodoCreate, response=TodoOut, status=201, idempotent=True)
def create_todo(ctx: Ctx, body: TodoCreate) -> Reply:
    """Create a todo (a sub-todo with `parent_id`), with its tags and recurrence."""
    if body.recurrence is not None and (problems := body.recurrence.problems()):
        raise errors.ValidationFailed(problems)
    row = db.create_todo(ctx.session, me=ctx.user_id, data=body)
    out = {
        **row,
        "access": OWNER,
        "tag_ids": sorted(set(body.tag_ids)),
        "recurrence": body.recurrence,
    }
    todo = TodoOut.model_validate(out)
    return Reply(todo, 201, {"Location": f"/v1/todos/{todo.id}", **etag(todo.version)})


@api.route("GET", ITEM, response=TodoOut)
def get_todo(ctx: Ctx, todo_id: uuid.UUID) -> Reply:
    """One todo the caller can see."""
    return _current(ctx, todo_id)


@api.route(
    "PATCH", ITEM, body=TodoUpdate, response=TodoOut, errors=(403, 412), headers=("If-Match",)
)
def update_todo(ctx: Ctx, todo_id: uuid.UUID, body: TodoUpdate) -> Reply:
    """Change any subset of fields; a `write` sharee only title, description, priority,
    deadline, remind_at and done."""
    changes = body.model_dump(exclude_unset=True)
    if "recurrence" in changes:
        changes["recurrence"] = body.recurrence
        if body.recurrence is not None and (problems := body.recurrence.problems()):
            raise errors.ValidationFailed(problems)
    allowed = (OWNER, WRITE) if set(changes) <= SHAREE_WRITABLE else (OWNER,)
    db.update_todo(
        ctx.session,
        me=ctx.user_id,
        todo_id=todo_id,
        changes=changes,
        versions=ctx.if_match(),
        allowed=allowed,
    )
    return _current(ctx, todo_id)


@api.route("DELETE", ITEM, status=204, errors=(403, 412), headers=("If-Match",))
def delete_todo(ctx: Ctx, todo_id: uuid.UUID) -> None:
    """Delete the todo and all its sub-todos (owner only)."""
    db.delete_todo(ctx.session, me=ctx.user_id, todo_id=todo_id, versions=ctx.if_match())


@api.route("POST", f"{ITEM}/complete", response=TodoOut, errors=(403, 412), headers=("If-Match",))
def complete_todo(ctx: Ctx, todo_id: uuid.UUID) -> Reply:
    """Mark done; a recurring todo moves to its next occurrence instead, until its series ends."""
    row = db.get_todo_for_completion(ctx.session, me=ctx.user_id, todo_id=todo_id)
    if row is None:
        raise errors.NotFound("No such todo.")
    wanted = ctx.if_match()
    if row["access"] not in (OWNER, WRITE):
        raise errors.Forbidden("Your access to this todo does not allow this.")
    if wanted is not None and row["version"] not in wanted:
        raise errors.PreconditionFailed()
    changes = db.next_schedule(row, now=datetime.now(UTC))
    db.update_todo(
        ctx.session,
        me=ctx.user_id,
        todo_id=todo_id,
        changes=changes,
        versions=frozenset({row["version"]}),
        allowed=(OWNER, WRITE),
    )
    return _current(ctx, todo_id)


@api.route("POST", f"{ITEM}/reopen", response=TodoOut, errors=(403, 412), headers=("If-Match",))
def reopen_todo(ctx: Ctx, todo_id: uuid.UUID) -> Reply:
    """Mark not done again."""
    db.update_todo(
        ctx.session,
        me=ctx.user_id,
        todo_id=todo_id,
        changes={"done": False},
        versions=ctx.if_match(),
        allowed=(OWNER, WRITE),
    )
    return _current(ctx, todo_id)


add_sharing_routes(
    api, TODOS, share_in=TodoShareIn, share_out=TodoShareOut, share_page=TodoSharePage
)


@functions_framework.http
def todos(request: flask.Request) -> flask.Response:
    return api.handle(request)
