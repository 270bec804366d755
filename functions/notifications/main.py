"""The `notifications` function (/v1/notifications): push devices, reminder/share dispatch."""

import flask
import functions_framework

from common.http import Api

api = Api("notifications")


@functions_framework.http
def notifications(request: flask.Request) -> flask.Response:
    return api.handle(request)
