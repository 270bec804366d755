"""The `memos` function (/v1/memos): memos, memo tags, sharing."""

import flask
import functions_framework

from common.db import memos as db
from common.db.access import MEMOS
from common.http import Api
from common.resources import Resource, add_crud_routes
from common.schemas.memos import (
    SHAREE_WRITABLE,
    MemoCreate,
    MemoListQuery,
    MemoOut,
    MemoPage,
    MemoUpdate,
)
from common.schemas.shares import ShareIn, ShareOut, SharePage
from common.sharing import add_sharing_routes

api = Api("memos")
add_crud_routes(
    api,
    Resource(
        spec=MEMOS,
        path="/v1/memos",
        out=MemoOut,
        page=MemoPage,
        create_body=MemoCreate,
        update_body=MemoUpdate,
        list_query=MemoListQuery,
        sorts=db.SORTS,
        sharee_writable=SHAREE_WRITABLE,
        get=db.get_memo,
        list_page=db.list_memos,
        create=db.create_memo,
        update=db.update_memo,
        to_out=db.to_out,
        list_out=lambda row: db.to_out(row, in_list=True),
    ),
)
add_sharing_routes(api, MEMOS, share_in=ShareIn, share_out=ShareOut, share_page=SharePage)


@functions_framework.http
def memos(request: flask.Request) -> flask.Response:
    return api.handle(request)
