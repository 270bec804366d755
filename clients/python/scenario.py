"""The TypeScript scenario (clients/typescript/scenario/scenario.ts), through the Python client
that openapi-python-client generates, with its default settings, from the merged document:

    openapi-python-client generate --url http://localhost:8080/v1/openapi.json \\
        --output-path /tmp/sealy-api-client
    PYTHONPATH=/tmp/sealy-api-client python clients/python/scenario.py http://localhost:8080

`make test` does exactly this against a server of its own (tests/clients/test_python_client.py):
register, create a todo, pin it with a one-field PATCH that leaves every other field as it
was, page through a list, and read a 404 and a 422 as problems.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from sealy_api_client import AuthenticatedClient, Client
from sealy_api_client.api.auth import auth_register
from sealy_api_client.api.todos import (
    todos_create_item,
    todos_get_item,
    todos_list_items,
    todos_update_item,
)
from sealy_api_client.models import (
    AuthOut,
    Problem,
    RecurrenceIn,
    RecurrenceInType,
    RegisterIn,
    Timezone,
    TodoCreate,
    TodoOut,
    TodoPage,
    TodosListItemsSort,
    TodoUpdate,
)
from sealy_api_client.types import UNSET


def check(condition: object, message: str = "") -> None:
    if not condition:
        raise AssertionError(message)


def create_todo(api: AuthenticatedClient, title: str) -> tuple[TodoOut, str]:
    answer = todos_create_item.sync_detailed(
        client=api,
        body=TodoCreate(
            title=title,
            description="the ferns on the balcony too",
            priority=2,
            deadline=datetime(2030, 1, 6, 9, tzinfo=UTC),
            remind_at=datetime(2030, 1, 6, 8, 45, tzinfo=UTC),
            recurrence=RecurrenceIn(
                type_=RecurrenceInType.WEEKLY,
                interval=1,
                days_of_week=[0, 3],
                start_at=datetime(2030, 1, 6, 9, tzinfo=UTC),
            ),
        ),
    )
    check(answer.status_code == 201, answer.content.decode())
    check(isinstance(answer.parsed, TodoOut))
    assert isinstance(answer.parsed, TodoOut)
    return answer.parsed, answer.headers["ETag"]


def unchanged(todo: TodoOut) -> dict[str, Any]:
    fields = todo.to_dict()
    for name in ("pinned", "version", "updated_at"):
        fields.pop(name)
    return fields


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    registered = auth_register.sync_detailed(
        client=anonymous,
        body=RegisterIn(
            email=f"py-{uuid.uuid4()}@example.com",
            password="correct horse battery staple",
            username="py-scenario",
            timezone=Timezone.EUROPE_LONDON,
        ),
    )
    check(registered.status_code == 201, registered.content.decode())
    assert isinstance(registered.parsed, AuthOut)
    api = AuthenticatedClient(base_url=base_url, token=registered.parsed.tokens.access_token)

    created, etag = create_todo(api, "Water the plants")
    check(etag == f'"{created.version}"', etag)

    # A one-field PATCH: every other field stays as it was.
    pinned = todos_update_item.sync_detailed(
        created.id, client=api, body=TodoUpdate(pinned=True), if_match=etag
    )
    check(pinned.status_code == 200, pinned.content.decode())
    assert isinstance(pinned.parsed, TodoOut)
    check(pinned.parsed.pinned is True)
    check(pinned.parsed.version == created.version + 1)
    check(unchanged(pinned.parsed) == unchanged(created), pinned.content.decode())
    stale = todos_update_item.sync_detailed(
        created.id, client=api, body=TodoUpdate(title="overwritten"), if_match=etag
    )
    check(stale.status_code == 412, stale.content.decode())

    # Paging.
    second, _ = create_todo(api, "Feed the cat")
    third, _ = create_todo(api, "Call the plumber")
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = todos_list_items.sync_detailed(
            client=api,
            limit=2,
            sort=TodosListItemsSort.CREATED_AT,
            cursor=UNSET if cursor is None else cursor,
        )
        check(page.status_code == 200, page.content.decode())
        assert isinstance(page.parsed, TodoPage)
        seen.extend(todo.id for todo in page.parsed.items)
        pages += 1
        if not isinstance(page.parsed.next_cursor, str):
            break
        cursor = page.parsed.next_cursor
    check(pages == 2, str(pages))
    check(seen == [created.id, second.id, third.id], str(seen))

    # Problems, parsed as problems.
    missing = todos_get_item.sync_detailed(uuid.uuid4(), client=api)
    check(missing.status_code == 404)
    check(missing.headers["Content-Type"] == "application/problem+json")
    assert isinstance(missing.parsed, Problem)
    check(missing.parsed.status == 404 and missing.parsed.title == "Not Found")
    check(missing.parsed.errors is UNSET)
    invalid = todos_update_item.sync_detailed(created.id, client=api, body=TodoUpdate(priority=9))
    check(invalid.status_code == 422)
    assert isinstance(invalid.parsed, Problem)
    check([e.field for e in invalid.parsed.errors or []] == ["priority"], invalid.content.decode())

    print(f"python scenario: ok ({len(seen)} todos over {pages} pages)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080")
