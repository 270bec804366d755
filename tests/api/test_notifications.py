"""Notifications (docs/api.md §9): devices, dispatch authentication, and dispatch through FCM.

FCM is stood in for at the HTTP boundary only (tests/fcm_stub.py): the real firebase-admin
code runs, from `credentials.ApplicationDefault()` (a service-account key made for this
run, its OAuth2 token endpoint on loopback) through `messaging.send_each` (HTTPS through a
loopback proxy that terminates TLS for fcm.googleapis.com) to the SDK's parsing of FCM's
error answers. The assertions read what the stand-in received.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine
from werkzeug.test import Client

from common.auth import dispatch as dispatch_auth
from common.config import get_settings
from common.db import notifications as queue
from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.factories import Account, register
from tests.fcm_stub import ACCESS_TOKEN, PROJECT_ID, GoogleStub, Sent, self_signed_rsa

pytestmark = [
    pytest.mark.api,
    # Registration tokens go out as `Message(token=...)`, which firebase-admin 7.7 deprecates
    # in favour of installation ids (FCM still accepts them); see common.push._target.
    pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning"),
]

DISPATCH_URL = "/v1/notifications/dispatch"
DEVICES_URL = "/v1/notifications/devices"
DISPATCH_SECRET = "dispatch-secret-for-tests-" + secrets.token_hex(8)
AUDIENCE = "https://api.sealy.test/v1/notifications/dispatch"
SCHEDULER = "sealy-scheduler@sealy-test.iam.gserviceaccount.com"
SECRET_HEADERS = {"X-Dispatch-Token": DISPATCH_SECRET}


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoogleStub]:
    """The stand-in for Google, and the environment that points firebase-admin at it."""
    stub = GoogleStub(tmp_path_factory.mktemp("google"))
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in stub.env().items():
                env.setenv(name, value)
            yield stub
    finally:
        stub.stop()


@pytest.fixture(autouse=True)
def fcm(
    google: GoogleStub, monkeypatch: pytest.MonkeyPatch, client: Client, engine: Engine
) -> GoogleStub:
    """Per test: the dispatch settings this module tests with, an empty queue and a clean
    record. Dispatch serves every user, so work left due by other tests (any module, any
    order) is sent now, and deliveries still backing off are closed, before the test runs."""
    use_settings(monkeypatch, dispatch_service_account=SCHEDULER)
    google.reset()
    dispatch(client)
    with engine.begin() as conn:
        conn.execute(text("UPDATE push_deliveries SET state = 'failed' WHERE state = 'pending'"))
    google.reset()
    return google


def use_settings(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
    settings = get_settings().model_copy(
        update={
            "dispatch_token": SecretStr(DISPATCH_SECRET),
            "dispatch_audience": AUDIENCE,
            **overrides,
        }
    )
    monkeypatch.setattr(dispatch_auth, "get_settings", lambda: settings)


@pytest.fixture
def me(client: Client) -> Account:
    return register(client, display_name="Ada")


# --- helpers --------------------------------------------------------------------------


def reg_token() -> str:
    """A registration-token-shaped value (`<installation id>:<token>`)."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(96)}"


def installation_id() -> str:
    """A Firebase installation id: 22 URL-safe base64 characters."""
    return secrets.token_urlsafe(16)[:22].ljust(22, "A")


def add_device(
    client: Client, who: Account, token: str | None = None, platform: str = "ios"
) -> dict[str, Any]:
    body = {"token": token or reg_token(), "platform": platform}
    response = client.put(DEVICES_URL, json=body, headers=who.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {**response.get_json(), "token": body["token"]}


def devices_of(client: Client, who: Account) -> list[dict[str, Any]]:
    response = client.get(DEVICES_URL, headers=who.headers)
    assert response.status_code == 200
    return response.get_json()["items"]  # type: ignore[no-any-return]


def dispatch(client: Client) -> dict[str, int]:
    response = client.post(DISPATCH_URL, headers=SECRET_HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def create_todo(client: Client, who: Account, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/todos", json={"title": "a todo", **fields}, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def patch_todo(client: Client, who: Account, todo_id: str, **fields: Any) -> None:
    response = client.patch(f"/v1/todos/{todo_id}", json=fields, headers=who.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def share(client: Client, owner: Account, todo_id: str, to: Account, **fields: Any) -> None:
    body = {"email": to.email, "permission": "read", **fields}
    response = client.put(f"/v1/todos/{todo_id}/shares", json=body, headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def reminders(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.message["data"]["type"] == "reminder"]


def targets(sent: list[Sent]) -> list[str]:
    return sorted(s.token for s in sent)


def make_due(engine: Engine, tokens: list[str]) -> None:
    """End the backoff of the pending deliveries to these tokens."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE push_deliveries SET next_attempt_at = now() WHERE state = 'pending'"
                " AND device_id IN (SELECT id FROM devices WHERE token = ANY(:tokens))"
            ),
            {"tokens": tokens},
        )


def deliveries_to(engine: Engine, token: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT d.state::text AS state, d.attempts, d.last_error,"
                    " extract(epoch FROM d.next_attempt_at - d.updated_at) AS wait_s"
                    " FROM push_deliveries d JOIN devices v ON v.id = d.device_id"
                    " WHERE v.token = :token ORDER BY d.created_at"
                ),
                {"token": token},
            )
        )


# --- devices --------------------------------------------------------------------------


def test_register_a_device(client: Client, me: Account, caplog: pytest.LogCaptureFixture) -> None:
    queries = QueryLog(caplog)
    response = client.put(
        DEVICES_URL, json={"token": reg_token(), "platform": "android"}, headers=me.headers
    )
    assert response.status_code == 200
    device = response.get_json()
    assert set(device) == {"id", "platform", "created_at", "last_seen_at"}
    assert uuid.UUID(device["id"])
    assert device["platform"] == "android"
    assert device["created_at"] == device["last_seen_at"]
    assert device["created_at"].endswith("Z")
    assert queries.of(response) == 1
    listed = client.get(DEVICES_URL, headers=me.headers)
    assert listed.get_json() == {"items": [device]}
    assert queries.of(listed) == 1


def test_registering_again_refreshes_last_seen_and_keeps_the_device(
    client: Client, me: Account
) -> None:
    token = reg_token()
    first = add_device(client, me, token, "ios")
    again = add_device(client, me, token, "web")
    assert again["id"] == first["id"]
    assert again["created_at"] == first["created_at"]
    assert when(again["last_seen_at"]) > when(first["last_seen_at"])
    assert again["platform"] == "web"
    assert [d["id"] for d in devices_of(client, me)] == [first["id"]]


def test_a_token_registered_by_another_user_moves_to_the_caller(
    client: Client, me: Account
) -> None:
    other = register(client)
    token = reg_token()
    mine = add_device(client, me, token)
    theirs = add_device(client, other, token)
    assert theirs["id"] == mine["id"]
    assert when(theirs["created_at"]) > when(mine["created_at"])  # new for its new owner
    assert devices_of(client, me) == []
    assert [d["id"] for d in devices_of(client, other)] == [theirs["id"]]
    gone = client.delete(f"{DEVICES_URL}/{mine['id']}", headers=me.headers)
    assert_problem(gone, 404)


def test_messages_queued_for_a_former_owner_are_not_sent_to_the_new_one(
    client: Client, me: Account, fcm: GoogleStub, engine: Engine
) -> None:
    token = reg_token()
    add_device(client, me, token)
    fcm.script(token, "QUOTA_EXCEEDED")
    create_todo(client, me, title="private", remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client)["failed"] == 1  # now waiting for its retry
    add_device(client, register(client), token)
    make_due(engine, [token])
    assert dispatch(client) == {"sent": 0, "failed": 0, "pruned": 0}
    assert len(fcm.sent([token])) == 1
    assert deliveries_to(engine, token) == []


def test_delete_a_device(client: Client, me: Account, caplog: pytest.LogCaptureFixture) -> None:
    queries = QueryLog(caplog)
    other = register(client)
    kept = add_device(client, me)
    gone = add_device(client, me)
    theirs = add_device(client, other)
    response = client.delete(f"{DEVICES_URL}/{gone['id']}", headers=me.headers)
    assert response.status_code == 204
    assert queries.of(response) == 1
    assert [d["id"] for d in devices_of(client, me)] == [kept["id"]]
    assert_problem(client.delete(f"{DEVICES_URL}/{gone['id']}", headers=me.headers), 404)
    assert_problem(client.delete(f"{DEVICES_URL}/{theirs['id']}", headers=me.headers), 404)
    assert_problem(client.delete(f"{DEVICES_URL}/{uuid.uuid4()}", headers=me.headers), 404)
    assert_problem(client.delete(f"{DEVICES_URL}/not-a-uuid", headers=me.headers), 404)
    assert [d["id"] for d in devices_of(client, other)] == [theirs["id"]]


def test_devices_list_only_the_callers_own(client: Client, me: Account) -> None:
    other = register(client)
    first, second = add_device(client, me, platform="ios"), add_device(client, me, platform="web")
    add_device(client, other)
    listed = devices_of(client, me)
    assert {d["id"] for d in listed} == {first["id"], second["id"]}
    assert all(set(d) == {"id", "platform", "created_at", "last_seen_at"} for d in listed)


def test_a_user_keeps_the_most_recently_seen_devices(client: Client, me: Account) -> None:
    added = [add_device(client, me) for _ in range(queue.MAX_DEVICES + 1)]
    ids = {d["id"] for d in devices_of(client, me)}
    assert len(ids) == queue.MAX_DEVICES
    assert added[0]["id"] not in ids  # the least recently seen is forgotten
    assert added[-1]["id"] in ids


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "abc", "platform": "blackberry"}, "platform"),
        ({"token": "", "platform": "ios"}, "token"),
        ({"token": "has space", "platform": "ios"}, "token"),
        ({"token": "x" * 4097, "platform": "ios"}, "token"),
        ({"token": 7, "platform": "ios"}, "token"),
        ({"platform": "ios"}, "token"),
        ({"token": "abc"}, "platform"),
        ({"token": "abc", "platform": "ios", "id": str(uuid.uuid4())}, "id"),
        ({"token": "abc", "platform": "ios", "user_id": str(uuid.uuid4())}, "user_id"),
    ],
)
def test_device_validation(client: Client, me: Account, body: dict[str, Any], field: str) -> None:
    response = client.put(DEVICES_URL, json=body, headers=me.headers)
    assert field in error_fields(response)
    assert devices_of(client, me) == []


def test_device_routes_need_a_user(client: Client) -> None:
    body = {"token": reg_token(), "platform": "ios"}
    assert_problem(client.put(DEVICES_URL, json=body), 401)
    assert_problem(client.get(DEVICES_URL), 401)
    assert_problem(client.delete(f"{DEVICES_URL}/{uuid.uuid4()}"), 401)


# --- dispatch authentication ----------------------------------------------------------


def test_dispatch_refuses_a_missing_or_wrong_shared_secret(client: Client) -> None:
    missing = assert_problem(client.post(DISPATCH_URL), 401)
    assert "request_id" in missing
    for wrong in ("", "nope", DISPATCH_SECRET[:-1], DISPATCH_SECRET + "x", "é" * 8):
        response = client.post(DISPATCH_URL, headers={"X-Dispatch-Token": wrong})
        assert_problem(response, 401)


def test_dispatch_accepts_the_shared_secret(client: Client) -> None:
    assert set(dispatch(client)) == {"sent", "failed", "pruned"}


def test_dispatch_is_post_only(client: Client) -> None:
    assert_problem(client.get(DISPATCH_URL, headers=SECRET_HEADERS), 405)


@pytest.fixture
def google_key(fcm: GoogleStub, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A signing key served as Google's, with the real verifier pointed at it."""
    key, cert = self_signed_rsa("google-test-signer")
    fcm.certs = {"google-test-1": cert}
    monkeypatch.setattr(dispatch_auth, "GOOGLE_CERTS_URL", f"{fcm.url}/certs")
    return key


def oidc(key: Any, kid: str = "google-test-1", **changes: Any) -> dict[str, str]:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "107000000000000000001",
        "email": SCHEDULER,
        "email_verified": True,
        "iat": now - 10,
        "exp": now + 600,
        **changes,
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    return {"Authorization": f"Bearer {token}"}


def test_dispatch_accepts_a_google_oidc_token_for_its_audience(
    client: Client, google_key: Any
) -> None:
    response = client.post(DISPATCH_URL, headers=oidc(google_key))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == {"sent", "failed", "pruned"}


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://api.sealy.test/v1/todos"},
        {"aud": "sealy-api"},
        {"email": "someone-else@sealy-test.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"iss": "https://evil.example.com"},
        {"exp": int(datetime.now(UTC).timestamp()) - 60},
    ],
    ids=["other-audience", "api-audience", "other-caller", "unverified", "issuer", "expired"],
)
def test_dispatch_refuses_oidc_tokens_that_are_not_the_schedulers(
    client: Client, google_key: Any, changes: dict[str, Any]
) -> None:
    assert_problem(client.post(DISPATCH_URL, headers=oidc(google_key, **changes)), 401)


def test_dispatch_refuses_oidc_tokens_signed_by_unknown_keys(
    client: Client, google_key: Any, me: Account
) -> None:
    stranger, _ = self_signed_rsa("not-google")
    assert_problem(client.post(DISPATCH_URL, headers=oidc(stranger, kid="unknown")), 401)
    # The known key id, but another key's signature.
    assert_problem(client.post(DISPATCH_URL, headers=oidc(stranger)), 401)
    # A Sealy access token is no dispatch credential.
    assert_problem(client.post(DISPATCH_URL, headers=me.headers), 401)
    assert_problem(client.post(DISPATCH_URL, headers={"Authorization": "Bearer "}), 401)
    assert_problem(client.post(DISPATCH_URL, headers={"Authorization": "Basic abc"}), 401)


def test_dispatch_refuses_oidc_without_an_audience_or_caller_configured(
    client: Client, google_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, dispatch_service_account=None)
    assert_problem(client.post(DISPATCH_URL, headers=oidc(google_key)), 401)


def test_a_wrong_secret_is_not_saved_by_a_valid_oidc_token(client: Client, google_key: Any) -> None:
    headers = {**oidc(google_key), "X-Dispatch-Token": "wrong"}
    assert_problem(client.post(DISPATCH_URL, headers=headers), 401)


# --- dispatch: reminders --------------------------------------------------------------


def test_a_reminder_goes_to_the_owner_and_every_live_sharee_once(
    client: Client, me: Account, fcm: GoogleStub, engine: Engine
) -> None:
    people = {name: register(client, username=name) for name in "bcdefg"}
    phones = {name: add_device(client, who)["token"] for name, who in people.items()}
    mine = [add_device(client, me, platform="android")["token"]]
    mine.append(add_device(client, me, installation_id(), platform="web")["token"])
    parent = create_todo(client, me, title="Trip")
    todo = create_todo(client, me, title="Pack the bags", parent_id=parent["id"])
    share(client, me, parent["id"], people["b"])  # recursive: reaches the sub-todo
    share(client, me, todo["id"], people["c"], permission="write", recursive=False)
    share(client, me, parent["id"], people["d"], recursive=False)  # the parent only
    share(client, me, todo["id"], people["e"], expires_at=stamp(timedelta(days=1)))
    share(client, me, todo["id"], people["f"])
    share(client, me, parent["id"], people["g"], expires_at=stamp(timedelta(days=1)))
    with engine.begin() as conn:  # e's and g's shares have expired since
        conn.execute(
            text(
                "UPDATE shared_todos SET expiration = now() - interval '1 minute'"
                " WHERE shared_user_id = ANY(:users)"
            ),
            {"users": [uuid.UUID(people[n].id) for n in "eg"]},
        )
    revoked = client.delete(f"/v1/todos/{todo['id']}/shares/{people['f'].id}", headers=me.headers)
    assert revoked.status_code == 204
    dispatch(client)  # the share events
    fcm.reset()

    patch_todo(client, me, todo["id"], remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client) == {"sent": 4, "failed": 0, "pruned": 0}
    sent = fcm.sent()
    assert targets(sent) == sorted([*mine, phones["b"], phones["c"]])
    fid_target = next(s for s in sent if s.token == mine[1])
    assert "fid" in fid_target.message
    assert "token" not in fid_target.message
    for message in sent:
        assert message.project == PROJECT_ID
        # the access token the SDK's own OAuth2 flow got from the stand-in's token endpoint
        assert message.authorization == f"Bearer {ACCESS_TOKEN}"
        assert message.message["notification"] == {"title": "Reminder", "body": "Pack the bags"}
        assert message.message["data"] == {
            "type": "reminder",
            "resource_type": "todo",
            "resource_id": todo["id"],
        }

    assert dispatch(client) == {"sent": 0, "failed": 0, "pruned": 0}
    assert len(fcm.sent()) == 4


def test_moving_remind_at_arms_the_reminder_again_once_per_value(
    client: Client, me: Account, fcm: GoogleStub
) -> None:
    token = add_device(client, me)["token"]
    first, second = stamp(timedelta(minutes=-5)), stamp(timedelta(minutes=-2))
    todo = create_todo(client, me, remind_at=first)
    dispatch(client)
    patch_todo(client, me, todo["id"], remind_at=second)
    dispatch(client)
    patch_todo(client, me, todo["id"], remind_at=first)  # a value already reminded of
    dispatch(client)
    patch_todo(client, me, todo["id"], remind_at=stamp(timedelta(hours=1)))  # not due yet
    dispatch(client)
    assert len(reminders(fcm.sent([token]))) == 2


def test_no_reminder_for_deleted_done_future_or_stale_todos(
    client: Client, me: Account, fcm: GoogleStub
) -> None:
    token = add_device(client, me)["token"]
    past = stamp(timedelta(minutes=-1))
    deleted = create_todo(client, me, remind_at=past)
    assert client.delete(f"/v1/todos/{deleted['id']}", headers=me.headers).status_code == 204
    parent = create_todo(client, me, remind_at=stamp(timedelta(hours=2)))
    child = create_todo(client, me, parent_id=parent["id"], remind_at=past)
    assert client.delete(f"/v1/todos/{parent['id']}", headers=me.headers).status_code == 204
    create_todo(client, me, done=True, remind_at=past)
    create_todo(client, me, remind_at=stamp(timedelta(minutes=5)))
    create_todo(client, me, remind_at=stamp(-queue.REMINDER_WINDOW - timedelta(minutes=1)))
    dispatch(client)
    assert fcm.sent([token]) == []
    assert child["id"]  # deleted with its parent


# --- dispatch: share events -----------------------------------------------------------


def test_a_new_share_notifies_the_recipient_once(
    client: Client, me: Account, fcm: GoogleStub
) -> None:
    friend = register(client, username="bob")
    phone = add_device(client, friend)["token"]
    own_phone = add_device(client, me)["token"]
    todo = create_todo(client, me, title="Groceries")
    share(client, me, todo["id"], friend)
    share(client, me, todo["id"], friend, permission="write")  # an update: no new event
    assert dispatch(client) == {"sent": 1, "failed": 0, "pruned": 0}
    [message] = fcm.sent([phone, own_phone])
    assert message.token == phone
    assert message.message["notification"] == {
        "title": "Shared with you",
        "body": "Ada shared a todo with you",
    }
    assert message.message["data"] == {
        "type": "share",
        "resource_type": "todo",
        "resource_id": todo["id"],
        "actor_id": me.id,
    }
    assert dispatch(client)["sent"] == 0

    url = f"/v1/todos/{todo['id']}/shares/{friend.id}"
    assert client.delete(url, headers=me.headers).status_code == 204
    share(client, me, todo["id"], friend)  # shared again after a revoke: a new event
    dispatch(client)
    assert len(fcm.sent([phone])) == 2


def test_a_refused_share_writes_no_event(client: Client, me: Account, fcm: GoogleStub) -> None:
    friend = register(client)
    phone = add_device(client, friend)["token"]
    todo = create_todo(client, me)
    response = client.put(
        f"/v1/todos/{todo['id']}/shares",
        json={"email": friend.email, "permission": "read", "expires_at": stamp(-timedelta(1))},
        headers=me.headers,
    )
    assert_problem(response, 422)
    stranger = client.put(
        f"/v1/todos/{todo['id']}/shares",
        json={"email": friend.email, "permission": "read"},
        headers=register(client).headers,
    )
    assert_problem(stranger, 404)
    dispatch(client)
    assert fcm.sent([phone]) == []


# --- dispatch: FCM's answers ----------------------------------------------------------


def test_unregistered_and_invalid_tokens_are_deleted(
    client: Client, me: Account, fcm: GoogleStub
) -> None:
    unregistered, invalid = add_device(client, me), add_device(client, me)
    alive = add_device(client, me)
    fcm.script(unregistered["token"], "UNREGISTERED")
    fcm.script(invalid["token"], "INVALID_ARGUMENT")
    create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client) == {"sent": 1, "failed": 2, "pruned": 2}
    answers = {s.token: s.answer for s in fcm.sent()}
    assert answers == {
        unregistered["token"]: "UNREGISTERED",
        invalid["token"]: "INVALID_ARGUMENT",
        alive["token"]: "ok",
    }
    assert [d["id"] for d in devices_of(client, me)] == [alive["id"]]
    create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    dispatch(client)
    assert targets(fcm.sent()) == sorted([*answers, alive["token"]])


def test_unavailable_is_retried_on_a_later_dispatch_after_its_backoff(
    client: Client, me: Account, fcm: GoogleStub, engine: Engine
) -> None:
    token = add_device(client, me)["token"]
    # firebase-admin itself retries a 503 four times (with its own backoff) before giving up.
    fcm.script(token, *["UNAVAILABLE"] * 5)
    create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client) == {"sent": 0, "failed": 1, "pruned": 0}
    assert [s.answer for s in fcm.sent([token])] == ["UNAVAILABLE"] * 5
    [row] = deliveries_to(engine, token)
    assert (row.state, row.attempts, row.last_error) == (
        "pending",
        1,
        "UNAVAILABLE UnavailableError",
    )
    assert row.wait_s == queue.retry_delay(1).total_seconds()

    assert dispatch(client) == {"sent": 0, "failed": 0, "pruned": 0}  # still backing off
    assert len(fcm.sent([token])) == 5
    make_due(engine, [token])
    assert dispatch(client) == {"sent": 1, "failed": 0, "pruned": 0}
    assert [s.answer for s in fcm.sent([token])][-1] == "ok"
    [row] = deliveries_to(engine, token)
    assert (row.state, row.attempts) == ("sent", 2)
    make_due(engine, [token])
    assert dispatch(client)["sent"] == 0


def test_transient_failures_back_off_and_stop_at_the_attempt_limit(
    client: Client, me: Account, fcm: GoogleStub, engine: Engine
) -> None:
    token = add_device(client, me)["token"]
    fcm.script(token, *["QUOTA_EXCEEDED"] * queue.MAX_ATTEMPTS)
    create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    waits = []
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        assert dispatch(client) == {"sent": 0, "failed": 1, "pruned": 0}
        [row] = deliveries_to(engine, token)
        assert row.attempts == attempt
        waits.append(row.wait_s)
        make_due(engine, [token])
    assert row.state == "failed"
    assert waits[:-1] == [queue.retry_delay(n).total_seconds() for n in range(1, len(waits))]
    assert waits[:3] == [60, 120, 240]
    assert dispatch(client) == {"sent": 0, "failed": 0, "pruned": 0}
    assert len(fcm.sent([token])) == queue.MAX_ATTEMPTS


# --- dispatch: concurrency and budget -------------------------------------------------


def due_work(client: Client, me: Account) -> tuple[list[str], int]:
    """Devices and due messages: 12 reminders to my 2 devices and, for 3 todos shared with a
    friend, to the friend's device, plus those 3 share events."""
    friend = register(client)
    tokens = [add_device(client, me)["token"], add_device(client, me, installation_id())["token"]]
    tokens.append(add_device(client, friend)["token"])
    todos = [create_todo(client, me, title=f"todo {n}") for n in range(12)]
    for todo in todos[:3]:
        share(client, me, todo["id"], friend, recursive=False)
    for todo in todos:
        patch_todo(client, me, todo["id"], remind_at=stamp(timedelta(minutes=-1)))
    return tokens, 12 * 2 + 3 + 3


def dispatch_twice_at_once(gateway: Any) -> list[dict[str, int]]:
    """Two dispatch calls started together, each on its own client and thread."""
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(slot: int) -> None:
        start.wait(timeout=30)
        results[slot] = Client(gateway).post(DISPATCH_URL, headers=SECRET_HEADERS)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None and r.status_code == 200 for r in results), results
    return [r.get_json() for r in results]


def delivered(fcm: GoogleStub, tokens: list[str]) -> list[tuple[str, str, str]]:
    """(target, type, resource id) of every message FCM accepted for these tokens."""
    return [
        (s.token, s.message["data"]["type"], s.message["data"]["resource_id"])
        for s in fcm.sent(tokens)
        if s.answer == "ok"
    ]


def test_two_dispatches_at_once_fan_out_and_send_every_message_once(
    gateway: Any, client: Client, me: Account, fcm: GoogleStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens, expected = due_work(client, me)
    monkeypatch.setattr(queue, "SEND_BATCH", 4)
    totals = dispatch_twice_at_once(gateway)
    assert sum(t["sent"] for t in totals) == expected
    keys = delivered(fcm, tokens)
    assert len(keys) == len(set(keys)) == expected
    assert dispatch(client)["sent"] == 0


def test_two_dispatches_sending_at_the_same_time_never_share_a_message(
    gateway: Any,
    client: Client,
    me: Account,
    fcm: GoogleStub,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens, expected = due_work(client, me)
    for token in tokens:  # queue everything: a first dispatch whose sends all fail
        fcm.script(token, *["QUOTA_EXCEEDED"] * expected)
    assert dispatch(client)["failed"] == expected
    for token in tokens:
        fcm.script(token)
    make_due(engine, tokens)
    monkeypatch.setattr(queue, "SEND_BATCH", 4)
    # Hold FCM's answers until 8 sends are in flight: a dispatcher has at most one batch (4)
    # out at a time, so getting there means both are sending at once.
    fcm.hold_until_in_flight(8, timeout_s=30)
    totals = dispatch_twice_at_once(gateway)
    assert fcm.max_in_flight >= 8
    assert all(t["sent"] > 0 for t in totals)
    assert sum(t["sent"] for t in totals) == expected
    keys = delivered(fcm, tokens)
    assert len(keys) == len(set(keys)) == expected


def test_dispatch_statements_do_not_grow_with_the_messages(
    client: Client, me: Account, fcm: GoogleStub, caplog: pytest.LogCaptureFixture
) -> None:
    queries = QueryLog(caplog)
    add_device(client, me)
    client.post(DISPATCH_URL, headers=SECRET_HEADERS)
    idle = queries.last()
    create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client)["sent"] == 1
    one = queries.last()
    add_device(client, me)
    for _ in range(10):
        create_todo(client, me, remind_at=stamp(timedelta(minutes=-1)))
    assert dispatch(client)["sent"] == 20
    many = queries.last()
    # purge; the due mails (closing stale ones); then arm share events, arm reminders,
    # claim; record when a batch was sent
    assert (idle, one, many) == (5, 6, 6)
