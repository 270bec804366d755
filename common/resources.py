"""The CRUD routes of a shareable resource, registered once for todos, memos and contacts.

A `Resource` names a resource's schemas and its data functions; `add_crud_routes` gives it
`GET /`, `POST /`, `GET|PATCH|DELETE /{id}` with the shared rules: keyset paging, ETag and
If-Match, Idempotency-Key on create, the caller's access decided in SQL, sharee writes
limited to the resource's `sharee_writable` fields. A function's main.py adds only what is
its own (todos: complete/reopen) and the sharing routes (common.sharing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.engine import RowMapping

from common import errors
from common.db import shareables
from common.db.access import OWNER, WRITE, Shareable
from common.http import Api, Ctx, Reply, etag
from common.paging import ListQuery, SortKey, paginate


@dataclass(frozen=True)
class Resource:
    spec: Shareable
    path: str  # "/v1/todos"
    out: type[BaseModel]
    page: type[BaseModel]
    create_body: type[BaseModel]
    update_body: type[BaseModel]
    list_query: type[ListQuery]
    sorts: dict[str, SortKey]
    sharee_writable: frozenset[str]
    # data functions (common/db/<resource>.py)
    get: Callable[..., RowMapping | None]  # (session, *, me, item_id)
    list_page: Callable[..., list[RowMapping]]  # (session, *, me, query, after)
    create: Callable[..., dict[str, Any]]  # (session, *, me, data) -> the Out fields
    update: Callable[..., None]  # (session, *, me, item_id, changes, versions, allowed)
    to_out: Callable[[RowMapping], dict[str, Any]]
    list_out: Callable[[RowMapping], dict[str, Any]] | None = None  # when lists differ
    check: Callable[[Any], list[errors.FieldError]] = lambda body: []  # checks pydantic can't

    def reply(self, fields: dict[str, Any], status: int = 200) -> Reply:
        item = self.out.model_validate(fields)
        headers = etag(item.version)  # type: ignore[attr-defined]
        if status == 201:
            headers["Location"] = f"{self.path}/{item.id}"  # type: ignore[attr-defined]
        return Reply(item, status, headers)

    def current(self, ctx: Ctx, item_id: uuid.UUID) -> Reply:
        row = self.get(ctx.session, me=ctx.user_id, item_id=item_id)
        if row is None:
            raise errors.NotFound(f"No such {self.spec.name}.")
        return self.reply(self.to_out(row))

    def validated(self, body: Any) -> None:
        if problems := self.check(body):
            raise errors.ValidationFailed(problems)


def add_crud_routes(api: Api, r: Resource) -> None:
    name = r.spec.name
    item = "/<uuid:item_id>"
    list_out = r.list_out or r.to_out

    @api.route(
        "GET",
        "/",
        query=r.list_query,
        response=r.page,
        summary=f"List {name}s: own and shared with the caller",
    )
    def list_items(ctx: Ctx, query: Any) -> BaseModel:
        rows, cursor = paginate(
            resource=name,
            user_id=ctx.user_id,
            sort_name=query.sort,
            sort=r.sorts[query.sort],
            filters=query.model_dump(exclude={"limit", "cursor", "sort"}, mode="json"),
            limit=query.limit,
            cursor=query.cursor,
            fetch=lambda after: r.list_page(ctx.session, me=ctx.user_id, query=query, after=after),
        )
        return r.page.model_validate(
            {"items": [list_out(row) for row in rows], "next_cursor": cursor}
        )

    @api.route(
        "POST",
        "/",
        body=r.create_body,
        response=r.out,
        status=201,
        idempotent=True,
        summary=f"Create a {name}",
    )
    def create_item(ctx: Ctx, body: Any) -> Reply:
        r.validated(body)
        fields = r.create(ctx.session, me=ctx.user_id, data=body)
        return r.reply({**fields, "access": OWNER, "tag_ids": sorted(set(body.tag_ids))}, 201)

    @api.route("GET", item, response=r.out, summary=f"One {name} the caller can see")
    def get_item(ctx: Ctx, item_id: uuid.UUID) -> Reply:
        return r.current(ctx, item_id)

    @api.route(
        "PATCH",
        item,
        body=r.update_body,
        response=r.out,
        errors=(403, 412),
        headers=("If-Match",),
        summary=f"Change any subset of a {name}'s fields",
    )
    def update_item(ctx: Ctx, item_id: uuid.UUID, body: Any) -> Reply:
        r.validated(body)
        changes = {field: getattr(body, field) for field in body.model_fields_set}
        allowed = (OWNER, WRITE) if set(changes) <= r.sharee_writable else (OWNER,)
        r.update(
            ctx.session,
            me=ctx.user_id,
            item_id=item_id,
            changes=changes,
            versions=ctx.if_match(),
            allowed=allowed,
        )
        return r.current(ctx, item_id)

    @api.route(
        "DELETE",
        item,
        status=204,
        errors=(403, 412),
        headers=("If-Match",),
        summary=f"Delete a {name} (owner only)",
    )
    def delete_item(ctx: Ctx, item_id: uuid.UUID) -> None:
        shareables.soft_delete(
            ctx.session, r.spec, me=ctx.user_id, item_id=item_id, versions=ctx.if_match()
        )
