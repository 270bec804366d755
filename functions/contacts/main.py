"""The `contacts` function (/v1/contacts): contacts with numbers/emails/addresses, sharing."""

import flask
import functions_framework

from common.db import contacts as db
from common.db.access import CONTACTS
from common.http import Api
from common.resources import Resource, add_crud_routes
from common.schemas.contacts import (
    SHAREE_WRITABLE,
    ContactCreate,
    ContactListQuery,
    ContactOut,
    ContactPage,
    ContactUpdate,
)
from common.schemas.shares import ShareIn, ShareOut, SharePage
from common.sharing import add_sharing_routes

api = Api("contacts")
add_crud_routes(
    api,
    Resource(
        spec=CONTACTS,
        path="/v1/contacts",
        out=ContactOut,
        page=ContactPage,
        create_body=ContactCreate,
        update_body=ContactUpdate,
        list_query=ContactListQuery,
        sorts=db.SORTS,
        sharee_writable=SHAREE_WRITABLE,
        get=db.get_contact,
        list_page=db.list_contacts,
        create=db.create_contact,
        update=db.update_contact,
        to_out=db.to_out,
    ),
)
add_sharing_routes(api, CONTACTS, share_in=ShareIn, share_out=ShareOut, share_page=SharePage)


@functions_framework.http
def contacts(request: flask.Request) -> flask.Response:
    return api.handle(request)
