"""The `memos` function (/v1/memos): memos, memo tags, sharing.

Every route it serves is listed below, each handled by `common.shareable.routes.ItemRoutes`
(bound to the memo resource as `items`). The memo SQL is common/shareable/memos.py.
"""

import flask
import functions_framework

from common.http import Api
from common.schemas.changes import ChangesQuery
from common.schemas.memos import (
    SHAREE_WRITABLE,
    MemoChanges,
    MemoCreate,
    MemoListQuery,
    MemoOut,
    MemoPage,
    MemoUpdate,
)
from common.schemas.shares import ShareIn, ShareOut, SharePage
from common.shareable import memos as sql
from common.shareable.routes import ItemRoutes, Resource

api = Api("memos")
items = ItemRoutes(
    Resource(
        view=sql.VIEW,
        path="/v1/memos",
        sharee_writable=SHAREE_WRITABLE,
        create=sql.create_memo,
        update=sql.update_memo,
    )
)

ITEM = "/<uuid:item_id>"
IF_MATCH = ("If-Match",)

api.add(
    "GET",
    "/",
    items.list_items,
    query=MemoListQuery,
    response=MemoPage,
    summary="List memos: own and shared with the caller",
)
api.add(
    "POST",
    "/",
    items.create_item,
    body=MemoCreate,
    response=MemoOut,
    status=201,
    idempotent=True,
    summary="Create a memo",
)
api.add(
    "GET",
    "/changes",
    items.changes,
    query=ChangesQuery,
    response=MemoChanges,
    errors=(410,),
    summary="Your memo change feed: a full snapshot, or what changed since a sync token",
)
api.add("GET", ITEM, items.get_item, response=MemoOut, summary="One memo the caller can see")
api.add(
    "PATCH",
    ITEM,
    items.update_item,
    body=MemoUpdate,
    response=MemoOut,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Change any subset of a memo's fields",
)
api.add(
    "DELETE",
    ITEM,
    items.delete_item,
    status=204,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Delete a memo (owner only)",
)
api.add(
    "PUT",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.put_tag,
    status=204,
    errors=(403,),
    summary="Tag the memo (idempotent)",
)
api.add(
    "DELETE",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.delete_tag,
    status=204,
    errors=(403,),
    summary="Untag the memo (idempotent)",
)
api.add(
    "GET",
    f"{ITEM}/shares",
    items.list_shares,
    response=SharePage,
    errors=(403,),
    summary="The memo's shares (owner only)",
)
api.add(
    "PUT",
    f"{ITEM}/shares",
    items.put_share,
    body=ShareIn,
    response=ShareOut,
    errors=(403, 409),
    summary="Share the memo with a user by email (create or update)",
)
api.add(
    "DELETE",
    f"{ITEM}/shares/<uuid:user_id>",
    items.delete_share,
    status=204,
    errors=(403,),
    summary="Revoke a user's share of the memo (idempotent)",
)


@functions_framework.http
def memos(request: flask.Request) -> flask.Response:
    return api.handle(request)
