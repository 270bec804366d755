"""Push devices and dispatch (docs/api.md §9)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from common.db.models import DevicePlatform
from common.schemas.base import Schema, Timestamp

# FCM registration tokens are printable ASCII without spaces (about 150-200 characters).
DeviceToken = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")
]


class DeviceIn(Schema):
    token: DeviceToken = Field(description="the FCM registration token")
    platform: DevicePlatform


class DeviceOut(Schema):
    id: uuid.UUID
    platform: DevicePlatform
    created_at: Timestamp
    last_seen_at: Timestamp


class DevicePage(Schema):
    items: list[DeviceOut]


class DispatchOut(Schema):
    sent: int = Field(description="messages FCM accepted")
    failed: int = Field(
        description="messages it did not: retried later with backoff, given up after the "
        "last attempt, or sent to a token it called dead"
    )
    pruned: int = Field(description="devices deleted because FCM called their token dead")
