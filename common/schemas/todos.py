"""Todos (docs/api.md §6)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from common.errors import FieldError
from common.paging import ShareableListQuery
from common.schemas.base import Access, JsonSchemaHook, Patch, Schema, Str, TagIds, Timestamp
from common.schemas.changes import ChangePage, Upsert

Title = Annotated[Str, Field(min_length=1, max_length=200)]
Description = Annotated[Str, Field(max_length=10_000)]
Priority = Annotated[int, Field(ge=0, le=4, description="0 none ... 4 highest")]

RecurrenceType = Literal["daily", "weekly", "monthly", "yearly"]
RECURRENCE_TYPES: tuple[RecurrenceType, ...] = ("daily", "weekly", "monthly", "yearly")  # 0..3


def _not_zero(schema: JsonSchemaValue) -> None:
    schema["not"] = {"const": 0}  # -1 is "last"; 0 is no day and no week (common.recurrence)


def _distinct(schema: JsonSchemaValue) -> None:
    schema["uniqueItems"] = True


DISTINCT = JsonSchemaHook(_distinct)
_LISTS = ("days_of_week", "days_of_month", "weeks_of_month", "months_of_year")


class Recurrence(Schema):
    """A repeating todo's rule; `common.recurrence.validate_rule` checks it, and its schema
    says all of that but one rule: `end_at` must come after `start_at` (else 422)."""

    type: RecurrenceType
    interval: int = Field(ge=1, le=1000)
    days_of_week: Annotated[list[Annotated[int, Field(ge=0, le=6)]], DISTINCT] | None = Field(
        default=None, min_length=1, max_length=7, description="0 = Sunday"
    )
    days_of_month: (
        Annotated[list[Annotated[int, Field(ge=-1, le=31), JsonSchemaHook(_not_zero)]], DISTINCT]
        | None
    ) = Field(default=None, min_length=1, max_length=32, description="1..31, -1 = last")
    weeks_of_month: (
        Annotated[list[Annotated[int, Field(ge=-1, le=5), JsonSchemaHook(_not_zero)]], DISTINCT]
        | None
    ) = Field(default=None, min_length=1, max_length=6, description="1..5, -1 = last")
    months_of_year: Annotated[list[Annotated[int, Field(ge=1, le=12)]], DISTINCT] | None = Field(
        default=None, min_length=1, max_length=12
    )
    start_at: Timestamp
    end_at: Timestamp | None = None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if handler.mode == "validation":
            given = {"type": "array"}
            both = [
                {"required": [a, b], "properties": {a: given, b: given}}
                for i, a in enumerate(_LISTS)
                for b in _LISTS[i + 1 :]
            ]
            handler.resolve_ref_schema(json_schema)["allOf"] = [
                {"not": {"anyOf": both}},  # at most one list
                {  # days and weeks of the month only in monthly and yearly rules
                    "if": {"properties": {"type": {"enum": ["daily", "weekly"]}}},
                    "then": {
                        "properties": {
                            "days_of_month": {"type": "null"},
                            "weeks_of_month": {"type": "null"},
                        }
                    },
                },
            ]
        return json_schema

    def problems(self) -> list[FieldError]:
        """The rule's own checks (one list at most, end after start, ...), dotted paths."""
        from common.recurrence import validate_rule

        return [FieldError(f"recurrence.{f}", m) for f, m in validate_rule(self.to_rule())]

    def to_rule(self) -> Any:
        from common.recurrence import Rule

        def tup(values: list[int] | None) -> tuple[int, ...] | None:
            return None if values is None else tuple(values)

        return Rule(
            type=self.type,
            interval=self.interval,
            start_at=self.start_at,
            end_at=self.end_at,
            days_of_week=tup(self.days_of_week),
            days_of_month=tup(self.days_of_month),
            weeks_of_month=tup(self.weeks_of_month),
            months_of_year=tup(self.months_of_year),
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "recurrence_type": RECURRENCE_TYPES.index(self.type),
            "interval": self.interval,
            "days_of_week": self.days_of_week,
            "days_of_month": self.days_of_month,
            "weeks_of_month": self.weeks_of_month,
            "months_of_year": self.months_of_year,
            "start_at": self.start_at,
            "end_at": self.end_at,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> Recurrence | None:
        if row is None or row.get("recurrence_type") is None:
            return None
        return cls.model_construct(
            type=RECURRENCE_TYPES[row["recurrence_type"]],
            interval=row["interval"],
            days_of_week=row["days_of_week"],
            days_of_month=row["days_of_month"],
            weeks_of_month=row["weeks_of_month"],
            months_of_year=row["months_of_year"],
            start_at=row["start_at"],
            end_at=row["end_at"],
        )


class TodoCreate(Schema):
    title: Title
    description: Description | None = None
    priority: Priority = 0
    pinned: bool = False
    done: bool = False
    deadline: Timestamp | None = None
    remind_at: Timestamp | None = None
    parent_id: uuid.UUID | None = None
    tag_ids: TagIds = Field(default_factory=list)
    recurrence: Recurrence | None = None


# Fields a `write` sharee may change; everything else is the owner's.
SHAREE_WRITABLE = frozenset({"title", "description", "priority", "deadline", "remind_at", "done"})


class TodoUpdate(Patch):
    """Any subset; `null` clears an optional field (description, deadline, remind_at,
    parent_id, recurrence) and is refused for the others."""

    NOT_NULL = frozenset({"title", "priority", "pinned", "done", "tag_ids"})

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    pinned: bool | None = None
    done: bool | None = None
    deadline: Timestamp | None = None
    remind_at: Timestamp | None = None
    parent_id: uuid.UUID | None = None
    tag_ids: TagIds | None = None
    recurrence: Recurrence | None = None


class TodoOut(Schema):
    id: uuid.UUID
    title: str
    description: str | None
    priority: int
    pinned: bool
    done: bool
    deadline: Timestamp | None
    remind_at: Timestamp | None
    completed_at: Timestamp | None
    parent_id: uuid.UUID | None
    tag_ids: list[uuid.UUID]
    recurrence: Recurrence | None
    owner_id: uuid.UUID
    access: Access
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class TodoPage(Schema):
    items: list[TodoOut]
    next_cursor: str | None = Field(description="null on the last page")


TodoSort = Literal[
    "created_at", "-created_at", "deadline", "-deadline", "-priority", "updated_at", "-updated_at"
]


class TodoListQuery(ShareableListQuery):
    done: bool | None = None
    parent_id: uuid.UUID | Literal["root"] | None = None
    due_before: Timestamp | None = None
    due_after: Timestamp | None = None
    sort: TodoSort = "-created_at"


class TodoUpsert(Upsert[TodoOut]):
    """A todo as `GET /v1/todos/{id}` shows it to you now."""


class TodoChanges(ChangePage[TodoUpsert]):
    """A page of your todos change feed (`GET /v1/todos/changes`)."""
