"""The `tags` function (/v1/tags): the user's tags."""

import flask
import functions_framework

from common.http import Api

api = Api("tags")


@functions_framework.http
def tags(request: flask.Request) -> flask.Response:
    return api.handle(request)
