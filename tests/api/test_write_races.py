"""Two requests that race: what must hold however they interleave (api-v1 §2, §6, §7).

Each race starts its requests on a barrier, one thread and one client each, and is tried
many times (at least 20): a rule that one interleaving breaks fails here.
- A secret memo is never shared: `PATCH {"secret": true}` racing `PUT .../shares` leaves no
  share, whichever commits first.
- One ETag, one write: of several writes holding one `If-Match`, exactly one succeeds.
- No 412 without `If-Match`: concurrent completes of one todo all apply, one after another.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register

pytestmark = pytest.mark.api

TRIES = 20


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None


def race(gateway: Any, calls: list[Call]) -> list[Any]:
    """Send `calls` at once (each from its own thread and client); their responses, in order."""
    barrier = threading.Barrier(len(calls))
    responses: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        call, worker = calls[index], Client(gateway)
        barrier.wait()
        responses[index] = worker.open(
            call.path, method=call.method, json=call.json, headers=call.headers
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def create(client: Client, who: Account, path: str, **fields: Any) -> dict[str, Any]:
    response = client.post(path, json=fields, headers=who.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


# --- a secret memo is never shared ---------------------------------------------------------


def test_making_a_memo_secret_while_it_is_shared_leaves_no_share(
    gateway: Any, client: Client
) -> None:
    owner, friend = register(client), register(client)
    answers: set[tuple[int, int]] = set()
    for _ in range(TRIES):
        memo = create(client, owner, "/v1/memos", content="plans", secret=False)
        url = f"/v1/memos/{memo['id']}"
        secret, shared = race(
            gateway,
            [
                Call("PATCH", url, owner.headers, {"secret": True}),
                Call(
                    "PUT",
                    f"{url}/shares",
                    owner.headers,
                    {"email": friend.email, "permission": "read"},
                ),
            ],
        )
        answers.add((secret.status_code, shared.status_code))
        assert secret.status_code == 200
        assert shared.status_code in (200, 409)  # shared first (then revoked), or refused
        assert client.get(f"{url}/shares", headers=owner.headers).get_json() == {"items": []}
        assert client.get(url, headers=friend.headers).status_code == 404
    assert answers  # what the interleavings gave, for the failure message above


# --- one ETag, one write ----------------------------------------------------------------------

RESOURCES = {
    "todos": {"title": "t"},
    "memos": {"content": "c"},
    "contacts": {"name": "n"},
}
CHANGE = {"todos": {"title": "u"}, "memos": {"content": "u"}, "contacts": {"name": "u"}}


@pytest.mark.parametrize("rivals", ["four deletes", "a patch and a delete"])
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_writes_with_one_etag_exactly_one_wins(
    gateway: Any, client: Client, resource: str, rivals: str
) -> None:
    me = register(client)
    headers = {**me.headers, "If-Match": '"1"'}
    for _ in range(TRIES):
        item = create(client, me, f"/v1/{resource}", **RESOURCES[resource])
        url = f"/v1/{resource}/{item['id']}"
        delete = Call("DELETE", url, headers)
        calls = (
            [delete] * 4
            if rivals == "four deletes"
            else [Call("PATCH", url, headers, CHANGE[resource]), delete]
        )
        responses = race(gateway, calls)
        statuses = [r.status_code for r in responses]
        won = [call for call, r in zip(calls, responses, strict=True) if r.status_code < 300]
        assert len(won) == 1, statuses
        assert len([s for s in statuses if s in (404, 412)]) == len(calls) - 1, statuses
        after = client.get(url, headers=me.headers)
        if won[0].method == "DELETE":
            assert after.status_code == 404
        else:
            assert after.get_json()["version"] == 2


def test_deleting_a_todo_tree_with_one_etag_exactly_one_wins(gateway: Any, client: Client) -> None:
    """The subtree goes with its root, or nothing does: a losing delete leaves no half."""
    me = register(client)
    headers = {**me.headers, "If-Match": '"1"'}
    for _ in range(TRIES):
        root = create(client, me, "/v1/todos", title="root")
        child = create(client, me, "/v1/todos", title="child", parent_id=root["id"])
        url = f"/v1/todos/{root['id']}"
        patched, deleted = race(
            gateway,
            [
                Call("PATCH", url, headers, {"title": "renamed"}),
                Call("DELETE", url, headers),
            ],
        )
        child_after = client.get(f"/v1/todos/{child['id']}", headers=me.headers)
        if deleted.status_code == 204:
            assert patched.status_code in (404, 412)
            assert child_after.status_code == 404
        else:
            assert (patched.status_code, deleted.status_code) == (200, 412)
            assert child_after.status_code == 200  # nothing of the tree was deleted


# --- no 412 without If-Match -----------------------------------------------------------------


def test_concurrent_completes_without_if_match_all_apply(gateway: Any, client: Client) -> None:
    """Each complete moves a daily todo on by one occurrence: none is refused or lost."""
    me = register(client)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    writers = 8
    for _ in range(TRIES):
        todo = create(
            client,
            me,
            "/v1/todos",
            title="daily",
            deadline=start.isoformat(),
            recurrence={"type": "daily", "interval": 1, "start_at": start.isoformat()},
        )
        url = f"/v1/todos/{todo['id']}/complete"
        responses = race(gateway, [Call("POST", url, me.headers)] * writers)
        assert [r.status_code for r in responses] == [200] * writers
        final = client.get(f"/v1/todos/{todo['id']}", headers=me.headers).get_json()
        assert datetime.fromisoformat(final["deadline"]) == start + timedelta(days=writers)
        assert final["version"] == 1 + writers
        versions = sorted(r.get_json()["version"] for r in responses)
        assert versions == list(range(2, 2 + writers))  # each saw its own step


def test_concurrent_completes_of_a_plain_todo_without_if_match_all_succeed(
    gateway: Any, client: Client
) -> None:
    me = register(client)
    for _ in range(TRIES):
        todo = create(client, me, "/v1/todos", title="once")
        url = f"/v1/todos/{todo['id']}/complete"
        responses = race(gateway, [Call("POST", url, me.headers)] * 6)
        assert [r.status_code for r in responses] == [200] * 6
        assert all(r.get_json()["done"] for r in responses)
