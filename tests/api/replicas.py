"""A client's offline replica, built only from change feeds (api-v1 §10), and the oracle it
is held against: what the list and single-GET routes show the same user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text
from werkzeug.test import Client

from tests.factories import Account

COLLECTIONS = ("tags", "todos", "memos", "contacts")


@dataclass
class Replica:
    """One user's copy of one collection: items by id, and the sync token of its last round."""

    client: Client
    who: Account
    collection: str
    limit: int = 200
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    token: str | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)  # of the last round
    responses: list[Any] = field(default_factory=list)  # of the last round

    def page(self, cursor: str | None = None) -> Any:
        url = f"/v1/{self.collection}/changes?limit={self.limit}"
        if self.token is not None:
            url += f"&since={quote(self.token)}"
        if cursor is not None:
            url += f"&cursor={quote(cursor)}"
        return self.client.get(url, headers=self.who.headers)

    def sync(self) -> list[dict[str, Any]]:
        """One round: every page, each entry applied in order; the round's entries."""
        self.pages, self.responses, entries, cursor = [], [], [], None
        while True:
            response = self.page(cursor)
            assert response.status_code == 200, response.get_data(as_text=True)
            self.responses.append(response)
            body = response.get_json()
            assert len(body["changes"]) <= self.limit
            self.pages.append(body)
            for entry in body["changes"]:
                self.apply(entry)
            entries += body["changes"]
            if body["next_cursor"] is None:
                assert body["sync_token"] is not None
                self.token = body["sync_token"]
                return entries
            assert body["sync_token"] is None
            cursor = body["next_cursor"]

    def apply(self, entry: dict[str, Any]) -> None:
        if entry["op"] == "upsert":
            assert entry["item"]["id"] == entry["id"]
            self.items[entry["id"]] = entry["item"]
        else:
            assert set(entry) == {"op", "id"}
            self.items.pop(entry["id"], None)


def shown(client: Client, who: Account, collection: str) -> dict[str, dict[str, Any]]:
    """Every item the list walks (scope=all), each as its single GET shows it."""
    query = "" if collection == "tags" else "&scope=all"
    ids: list[str] = []
    url = f"/v1/{collection}?limit=200{query}"
    while url:
        response = client.get(url, headers=who.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        url = f"/v1/{collection}?limit=200{query}&cursor={quote(cursor)}" if cursor else ""
    items = {}
    for item_id in ids:
        response = client.get(f"/v1/{collection}/{item_id}", headers=who.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        items[item_id] = response.get_json()
    return items


def assert_exact(replica: Replica) -> None:
    """The replica holds exactly what the routes show its user, field for field."""
    expected = shown(replica.client, replica.who, replica.collection)
    assert replica.items.keys() == expected.keys(), (replica.collection, replica.who.id)
    for item_id, item in expected.items():
        assert replica.items[item_id] == item, (replica.collection, item_id)


SHARE_TABLES = {"todos": "shared_todos", "memos": "shared_memos", "contacts": "shared_contacts"}


def lapse(engine: Engine, collection: str, item_id: str, user_id: str) -> bool:
    """Time passes beyond a share's expiry, with no write through any route.

    The share's expiration moves to the server's present moment, written with triggers off
    (`session_replication_role = replica`), so nothing records it: what remains is what the
    passing of time would leave, a share that lapsed and not a trace of a change. Tests
    control time this way instead of waiting for it. False when there was no such share."""
    table = SHARE_TABLES[collection]
    column = f"{collection[:-1]}_id"
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        moved = conn.execute(
            text(
                f"UPDATE {table} SET expiration = clock_timestamp() "
                f"WHERE {column} = :item AND shared_user_id = :user AND expiration IS NOT NULL"
            ),
            {"item": item_id, "user": user_id},
        )
        return bool(moved.rowcount == 1)
