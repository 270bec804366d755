"""The `users` function (/v1/users): the signed-in user's profile and account."""

import flask
import functions_framework

from common.http import Api

api = Api("users")


@functions_framework.http
def users(request: flask.Request) -> flask.Response:
    return api.handle(request)
