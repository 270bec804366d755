"""The `notifications` function (/v1/notifications): push devices, reminder/share dispatch."""

import uuid

import flask
import functions_framework

from common import errors, mail, push
from common.auth.dispatch import authorize_dispatch
from common.db import notifications as db
from common.http import Api, Ctx
from common.schemas.notifications import DeviceIn, DeviceOut, DevicePage, DispatchOut

api = Api("notifications")
mail.require_settings()  # dispatch sends the mails left in the outbox


@api.route("PUT", "/devices", body=DeviceIn, response=DeviceOut)
def put_device(ctx: Ctx, body: DeviceIn) -> DeviceOut:
    """Register a push token, or refresh it; a token held by another user moves to the caller."""
    row = db.put_device(
        session=ctx.session, me=ctx.user_id, token=body.token, platform=body.platform
    )
    return DeviceOut.model_validate(row)


@api.route("GET", "/devices", response=DevicePage)
def list_devices(ctx: Ctx) -> DevicePage:
    """The caller's devices."""
    rows = db.list_devices(session=ctx.session, me=ctx.user_id)
    return DevicePage(items=[DeviceOut.model_validate(row) for row in rows])


@api.route("DELETE", "/devices/<uuid:device_id>", status=204)
def delete_device(ctx: Ctx, device_id: uuid.UUID) -> None:
    """Forget one of the caller's devices."""
    if not db.delete_device(session=ctx.session, me=ctx.user_id, device_id=device_id):
        raise errors.NotFound("No such device.")


@api.route(
    "POST",
    "/dispatch",
    public=True,
    response=DispatchOut,
    errors=(401,),
    headers=("X-Dispatch-Token", "Authorization"),
)
def dispatch(ctx: Ctx) -> DispatchOut:
    """Send due reminders, share events and mails left over (Cloud Scheduler, every minute)."""
    authorize_dispatch(ctx.request)
    totals = push.dispatch()
    return DispatchOut(sent=totals.sent, failed=totals.failed, pruned=totals.pruned)


@functions_framework.http
def notifications(request: flask.Request) -> flask.Response:
    return api.handle(request)
