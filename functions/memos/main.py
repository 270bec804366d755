"""The `memos` function (/v1/memos): memos, memo tags, sharing."""

import flask
import functions_framework

from common.http import Api

api = Api("memos")


@functions_framework.http
def memos(request: flask.Request) -> flask.Response:
    return api.handle(request)
