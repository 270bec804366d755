"""The `auth` function (/v1/auth): register, login, refresh, logout, password change."""

import flask
import functions_framework

from common.http import Api

api = Api("auth")


@functions_framework.http
def auth(request: flask.Request) -> flask.Response:
    return api.handle(request)
