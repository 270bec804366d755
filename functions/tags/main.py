"""The `tags` function (/v1/tags): the user's tags and their change feed."""

import functools
import uuid
from typing import Any

import flask
import functions_framework

from common import paging, sync
from common.db import tags as db
from common.http import Api, Ctx, Reply, etag
from common.schemas.changes import ChangesQuery
from common.schemas.tags import (
    TagChanges,
    TagCreate,
    TagListQuery,
    TagOut,
    TagPage,
    TagUpdate,
)

api = Api("tags")
FEED = sync.Feed(
    collection="tag",
    snapshot=functools.partial(db.list_tags, sort=db.SORTS["created_at"]),
    changes=db.list_tag_changes,
    to_out=lambda row: {name: row[name] for name in TagOut.model_fields},
)


@api.route("GET", "/", query=TagListQuery, response=TagPage)
def list_tags(ctx: Ctx, query: TagListQuery) -> TagPage:
    """The caller's tags, by name unless `sort` says otherwise."""
    sort = db.SORTS[query.sort]
    scope = paging.list_scope(resource="tag", user_id=ctx.user_id, sort=query.sort, filters={})
    after = paging.position(query.cursor, scope=scope, sort=sort)
    rows = db.list_tags(
        session=ctx.session, me=ctx.user_id, sort=sort, limit=query.limit, after=after
    )
    page, cursor = paging.next_cursor(rows, limit=query.limit, scope=scope, sort=sort)
    return TagPage(items=[TagOut.model_validate(row) for row in page], next_cursor=cursor)


@api.route("POST", "/", body=TagCreate, response=TagOut, status=201, errors=(409,), idempotent=True)
def create_tag(ctx: Ctx, body: TagCreate) -> Reply:
    """Create a tag; names are unique per user ignoring case (409)."""
    tag = TagOut.model_validate(db.create_tag(session=ctx.session, me=ctx.user_id, name=body.name))
    return Reply(tag, 201, {"Location": f"/v1/tags/{tag.id}", **etag(tag.version)})


@api.route("GET", "/changes", query=ChangesQuery, response=TagChanges, errors=(410,))
def tag_changes(ctx: Ctx, query: ChangesQuery) -> dict[str, Any]:
    """Your tag change feed: a full snapshot, or what changed since a sync token."""
    return sync.read_changes(ctx, query, FEED)


@api.route("GET", "/<uuid:tag_id>", response=TagOut)
def get_tag(ctx: Ctx, tag_id: uuid.UUID) -> Reply:
    """One of the caller's tags."""
    tag = TagOut.model_validate(db.get_tag(session=ctx.session, me=ctx.user_id, tag_id=tag_id))
    return Reply(tag, headers=etag(tag.version))


@api.route(
    "PATCH",
    "/<uuid:tag_id>",
    body=TagUpdate,
    response=TagOut,
    errors=(409, 412),
    headers=("If-Match",),
)
def rename_tag(ctx: Ctx, tag_id: uuid.UUID, body: TagUpdate) -> Reply:
    """Rename a tag (409 if the caller has another tag of that name)."""
    row = db.rename_tag(
        session=ctx.session, me=ctx.user_id, tag_id=tag_id, name=body.name, versions=ctx.if_match()
    )
    tag = TagOut.model_validate(row)
    return Reply(tag, headers=etag(tag.version))


@api.route("DELETE", "/<uuid:tag_id>", status=204, errors=(412,), headers=("If-Match",))
def delete_tag(ctx: Ctx, tag_id: uuid.UUID) -> None:
    """Delete a tag; it is detached from every todo, memo and contact."""
    db.delete_tag(session=ctx.session, me=ctx.user_id, tag_id=tag_id, versions=ctx.if_match())


@functions_framework.http
def tags(request: flask.Request) -> flask.Response:
    return api.handle(request)
