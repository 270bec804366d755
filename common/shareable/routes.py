"""The HTTP handlers every shareable resource (todos, memos, contacts) has.

A function's `main.py` lists its routes and points each at one of these, bound to its
resource by `ItemRoutes(resource)`: list, create, get, patch and delete, the tag links, the
shares and the change feed (common.sync). The rules they share: keyset paging, ETag and
If-Match, the caller's access decided in SQL (common.shareable.access), sharee writes
limited to the resource's `sharee_writable` fields, tags and shares managed by the owner
only (a sharee gets 403, anyone else 404). Each handler returns the fields of its route's
response schema.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common import errors, paging, sync
from common.http import Ctx, Reply, etag
from common.http.responses import Json
from common.schemas.changes import ChangesQuery
from common.schemas.shares import ShareIn
from common.shareable import feeds, links, writes
from common.shareable.access import OWNER, WRITE, Shown, View, list_visible, show_visible


@dataclass(frozen=True)
class Resource:
    """A shareable resource as its routes see it."""

    view: View  # how it is read (common.shareable.<resource>.VIEW)
    path: str  # "/v1/todos"
    sharee_writable: frozenset[str]  # the fields a `write` sharee may change
    create: Callable[..., dict[str, Any]]  # (*, session, me, data) -> the new item's fields
    update: Callable[..., Shown | None]  # (*, session, edit: writes.Edit) -> see writes.apply
    check: Callable[[Any], list[errors.FieldError]] = lambda body: []  # what pydantic can't


class ItemRoutes:
    """The shared handlers, bound to one resource."""

    def __init__(self, resource: Resource) -> None:
        self.r = resource
        self.name = resource.view.spec.name
        view = resource.view
        self.feed = sync.Feed(
            collection=self.name,
            snapshot=functools.partial(feeds.list_snapshot, view=view),
            changes=functools.partial(feeds.list_changes, view=view),
            to_out=view.to_out,
        )

    # --- items ---------------------------------------------------------------------------

    def list_items(self, ctx: Ctx, query: Any) -> Reply:
        view = self.r.view
        sort = view.sorts[query.sort]
        scope = paging.list_scope(
            resource=self.name,
            user_id=ctx.user_id,
            sort=query.sort,
            filters=query.model_dump(exclude={"limit", "cursor", "sort"}, mode="json"),
        )
        after = paging.position(query.cursor, scope=scope, sort=sort)
        rows = list_visible(
            session=ctx.session,
            view=view,
            me=ctx.user_id,
            query=query,
            sort=sort,
            after=after,
            shown=True,
        )
        page, cursor = paging.next_cursor(rows, limit=query.limit, scope=scope, sort=sort)
        return Reply(Json.page([row["json"] for row in page], cursor))

    def create_item(self, ctx: Ctx, body: Any) -> Reply:
        self._check(body)
        fields = self.r.create(session=ctx.session, me=ctx.user_id, data=body)
        item = {**fields, "access": OWNER, "tag_ids": sorted(set(body.tag_ids))}
        headers = {**etag(item["version"]), "Location": f"{self.r.path}/{item['id']}"}
        return Reply(item, 201, headers)

    def get_item(self, ctx: Ctx, item_id: uuid.UUID) -> Reply:
        shown = show_visible(session=ctx.session, view=self.r.view, me=ctx.user_id, item_id=item_id)
        if shown is None:
            raise errors.NotFound(f"No such {self.name}.")
        return Reply(Json(shown.json), headers=etag(shown.version))

    def update_item(self, ctx: Ctx, item_id: uuid.UUID, body: Any) -> Reply:
        self._check(body)
        changes = {field: getattr(body, field) for field in body.model_fields_set}
        allowed = (OWNER, WRITE) if set(changes) <= self.r.sharee_writable else (OWNER,)
        edit = writes.Edit(ctx.user_id, item_id, changes, ctx.if_match(), allowed)
        return self.written(ctx, item_id, self.r.update(session=ctx.session, edit=edit))

    def written(self, ctx: Ctx, item_id: uuid.UUID, shown: Shown | None) -> Reply:
        """The answer to a write of an item: the representation its statement returned, or
        (None: another writer came between, writes.apply) the item read again."""
        if shown is None:
            return self.get_item(ctx, item_id)
        return Reply(Json(shown.json), headers=etag(shown.version))

    def delete_item(self, ctx: Ctx, item_id: uuid.UUID) -> None:
        writes.soft_delete(
            session=ctx.session,
            spec=self.r.view.spec,
            me=ctx.user_id,
            item_id=item_id,
            versions=ctx.if_match(),
        )

    def changes(self, ctx: Ctx, query: ChangesQuery) -> dict[str, Any]:
        """One page of the caller's change feed (common.sync)."""
        return sync.read_changes(ctx, query, self.feed)

    def _check(self, body: Any) -> None:
        if problems := self.r.check(body):
            raise errors.ValidationFailed(problems)

    # --- tag links (owner only) ----------------------------------------------------------

    def put_tag(self, ctx: Ctx, item_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        self._set_tag(ctx, item_id, tag_id, linked=True)

    def delete_tag(self, ctx: Ctx, item_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        self._set_tag(ctx, item_id, tag_id, linked=False)

    def _set_tag(self, ctx: Ctx, item_id: uuid.UUID, tag_id: uuid.UUID, *, linked: bool) -> None:
        links.set_tag(
            session=ctx.session,
            spec=self.r.view.spec,
            me=ctx.user_id,
            item_id=item_id,
            tag_id=tag_id,
            linked=linked,
        )

    # --- shares (owner only) -------------------------------------------------------------

    def list_shares(self, ctx: Ctx, item_id: uuid.UUID) -> dict[str, Any]:
        rows = links.list_shares(
            session=ctx.session, spec=self.r.view.spec, me=ctx.user_id, item_id=item_id
        )
        return {"items": [links.to_out(row) for row in rows]}

    def put_share(self, ctx: Ctx, item_id: uuid.UUID, body: ShareIn) -> dict[str, Any]:
        if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
            raise errors.ValidationFailed(
                [errors.FieldError("expires_at", "must be in the future")]
            )
        row = links.put_share(
            session=ctx.session,
            spec=self.r.view.spec,
            me=ctx.user_id,
            item_id=item_id,
            email=str(body.email),
            permission=body.permission,
            expires_at=body.expires_at,
            recursive=getattr(body, "recursive", None),
        )
        return links.to_out(row)

    def delete_share(self, ctx: Ctx, item_id: uuid.UUID, user_id: uuid.UUID) -> None:
        links.delete_share(
            session=ctx.session,
            spec=self.r.view.spec,
            me=ctx.user_id,
            item_id=item_id,
            user_id=user_id,
        )
