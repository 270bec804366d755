"""The `todos` function (/v1/todos): todos, sub-todos, recurrence, todo tags, sharing.

Every route it serves is listed below. Those that todos share with memos and contacts are
handled by `common.shareable.routes.ItemRoutes` (bound to the todo resource as `items`);
complete and reopen are handled here. The todo SQL is common/shareable/todos.py.
"""

import uuid
from datetime import UTC, datetime

import flask
import functions_framework

from common import errors
from common.http import Api, Ctx, Reply
from common.recurrence import next_schedule
from common.schemas.changes import ChangesQuery
from common.schemas.shares import TodoShareIn, TodoShareOut, TodoSharePage
from common.schemas.todos import (
    SHAREE_WRITABLE,
    Recurrence,
    TodoChanges,
    TodoCreate,
    TodoListQuery,
    TodoOut,
    TodoPage,
    TodoUpdate,
)
from common.shareable import todos as sql
from common.shareable import writes
from common.shareable.access import OWNER, WRITE
from common.shareable.routes import ItemRoutes, Resource

api = Api("todos")
items = ItemRoutes(
    Resource(
        view=sql.VIEW,
        path="/v1/todos",
        sharee_writable=SHAREE_WRITABLE,
        create=sql.create_todo,
        update=sql.update_todo,
        check=lambda body: body.recurrence.problems() if body.recurrence is not None else [],
    )
)


def complete_todo(ctx: Ctx, item_id: uuid.UUID) -> Reply:
    """Mark done; a recurring todo moves to its next occurrence instead, until its series ends."""
    row = sql.get_todo_for_completion(session=ctx.session, me=ctx.user_id, item_id=item_id)
    if row is None:
        raise errors.NotFound("No such todo.")
    wanted = ctx.if_match()
    if row["access"] not in (OWNER, WRITE):
        raise errors.Forbidden("Your access to this todo does not allow this.")
    if wanted is not None and row["version"] not in wanted:
        raise errors.PreconditionFailed()
    recurrence = Recurrence.from_row(dict(row))
    schedule = next_schedule(
        recurrence.to_rule() if recurrence is not None else None,
        deadline=row["deadline"],
        remind_at=row["remind_at"],
        tz=row["owner_timezone"] or "UTC",
        now=datetime.now(UTC),
    )
    # The row is locked since the read: its version is the current one.
    edit = writes.Edit(
        ctx.user_id, item_id, schedule.changes(), frozenset({row["version"]}), (OWNER, WRITE)
    )
    return items.written(ctx, item_id, sql.update_todo(session=ctx.session, edit=edit))


def reopen_todo(ctx: Ctx, item_id: uuid.UUID) -> Reply:
    """Mark not done again."""
    edit = writes.Edit(ctx.user_id, item_id, {"done": False}, ctx.if_match(), (OWNER, WRITE))
    return items.written(ctx, item_id, sql.update_todo(session=ctx.session, edit=edit))


ITEM = "/<uuid:item_id>"
IF_MATCH = ("If-Match",)

api.add(
    "GET",
    "/",
    items.list_items,
    query=TodoListQuery,
    response=TodoPage,
    summary="List todos: own and shared with the caller",
)
api.add(
    "POST",
    "/",
    items.create_item,
    body=TodoCreate,
    response=TodoOut,
    status=201,
    idempotent=True,
    summary="Create a todo",
)
api.add(
    "GET",
    "/changes",
    items.changes,
    query=ChangesQuery,
    response=TodoChanges,
    errors=(410,),
    summary="Your todo change feed: a full snapshot, or what changed since a sync token",
)
api.add("GET", ITEM, items.get_item, response=TodoOut, summary="One todo the caller can see")
api.add(
    "PATCH",
    ITEM,
    items.update_item,
    body=TodoUpdate,
    response=TodoOut,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Change any subset of a todo's fields",
)
api.add(
    "DELETE",
    ITEM,
    items.delete_item,
    status=204,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Delete a todo (owner only)",
)
api.add(
    "POST", f"{ITEM}/complete", complete_todo, response=TodoOut, errors=(403, 412), headers=IF_MATCH
)
api.add(
    "POST", f"{ITEM}/reopen", reopen_todo, response=TodoOut, errors=(403, 412), headers=IF_MATCH
)
api.add(
    "PUT",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.put_tag,
    status=204,
    errors=(403,),
    summary="Tag the todo (idempotent)",
)
api.add(
    "DELETE",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.delete_tag,
    status=204,
    errors=(403,),
    summary="Untag the todo (idempotent)",
)
api.add(
    "GET",
    f"{ITEM}/shares",
    items.list_shares,
    response=TodoSharePage,
    errors=(403,),
    summary="The todo's shares (owner only)",
)
api.add(
    "PUT",
    f"{ITEM}/shares",
    items.put_share,
    body=TodoShareIn,
    response=TodoShareOut,
    errors=(403, 409),
    summary="Share the todo with a user by email (create or update)",
)
api.add(
    "DELETE",
    f"{ITEM}/shares/<uuid:user_id>",
    items.delete_share,
    status=204,
    errors=(403,),
    summary="Revoke a user's share of the todo (idempotent)",
)


@functions_framework.http
def todos(request: flask.Request) -> flask.Response:
    return api.handle(request)
