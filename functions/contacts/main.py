"""The `contacts` function (/v1/contacts): contacts with numbers/emails/addresses, sharing."""

import flask
import functions_framework

from common.http import Api

api = Api("contacts")


@functions_framework.http
def contacts(request: flask.Request) -> flask.Response:
    return api.handle(request)
