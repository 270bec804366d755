"""The `contacts` function (/v1/contacts): contacts with numbers/emails/addresses, sharing.

Every route it serves is listed below, each handled by `common.shareable.routes.ItemRoutes`
(bound to the contact resource as `items`). The contact SQL is common/shareable/contacts.py.
"""

import flask
import functions_framework

from common.http import Api
from common.schemas.changes import ChangesQuery
from common.schemas.contacts import (
    SHAREE_WRITABLE,
    ContactChanges,
    ContactCreate,
    ContactListQuery,
    ContactOut,
    ContactPage,
    ContactUpdate,
)
from common.schemas.shares import ShareIn, ShareOut, SharePage
from common.shareable import contacts as sql
from common.shareable.routes import ItemRoutes, Resource

api = Api("contacts")
items = ItemRoutes(
    Resource(
        view=sql.VIEW,
        path="/v1/contacts",
        sharee_writable=SHAREE_WRITABLE,
        create=sql.create_contact,
        update=sql.update_contact,
    )
)

ITEM = "/<uuid:item_id>"
IF_MATCH = ("If-Match",)

api.add(
    "GET",
    "/",
    items.list_items,
    query=ContactListQuery,
    response=ContactPage,
    summary="List contacts: own and shared with the caller",
)
api.add(
    "POST",
    "/",
    items.create_item,
    body=ContactCreate,
    response=ContactOut,
    status=201,
    idempotent=True,
    summary="Create a contact",
)
api.add(
    "GET",
    "/changes",
    items.changes,
    query=ChangesQuery,
    response=ContactChanges,
    errors=(410,),
    summary="Your contact change feed: a full snapshot, or what changed since a sync token",
)
api.add("GET", ITEM, items.get_item, response=ContactOut, summary="One contact the caller can see")
api.add(
    "PATCH",
    ITEM,
    items.update_item,
    body=ContactUpdate,
    response=ContactOut,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Change any subset of a contact's fields",
)
api.add(
    "DELETE",
    ITEM,
    items.delete_item,
    status=204,
    errors=(403, 412),
    headers=IF_MATCH,
    summary="Delete a contact (owner only)",
)
api.add(
    "PUT",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.put_tag,
    status=204,
    errors=(403,),
    summary="Tag the contact (idempotent)",
)
api.add(
    "DELETE",
    f"{ITEM}/tags/<uuid:tag_id>",
    items.delete_tag,
    status=204,
    errors=(403,),
    summary="Untag the contact (idempotent)",
)
api.add(
    "GET",
    f"{ITEM}/shares",
    items.list_shares,
    response=SharePage,
    errors=(403,),
    summary="The contact's shares (owner only)",
)
api.add(
    "PUT",
    f"{ITEM}/shares",
    items.put_share,
    body=ShareIn,
    response=ShareOut,
    errors=(403, 409),
    summary="Share the contact with a user by email (create or update)",
)
api.add(
    "DELETE",
    f"{ITEM}/shares/<uuid:user_id>",
    items.delete_share,
    status=204,
    errors=(403,),
    summary="Revoke a user's share of the contact (idempotent)",
)


@functions_framework.http
def contacts(request: flask.Request) -> flask.Response:
    return api.handle(request)
