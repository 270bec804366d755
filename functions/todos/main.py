"""The `todos` function (/v1/todos): todos, sub-todos, recurrence, todo tags, sharing."""

import flask
import functions_framework

from common.http import Api

api = Api("todos")


@functions_framework.http
def todos(request: flask.Request) -> flask.Response:
    return api.handle(request)
