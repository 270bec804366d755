"""Notification SQL: push devices, the share-event outbox, reminders and the delivery queue.

Tables (common/db/models.py, "notifications"):
- `devices`: one FCM registration token each, unique across users. Registering a token that
  another user holds moves the row to the caller (a phone changed hands, or signed in as
  someone else); the former owner's undelivered messages for it are dropped in the same
  statement. A user keeps at most `MAX_DEVICES`: registering one more forgets the least
  recently seen.
- `share_events`: the outbox. `common.shareable.links.put_share` writes a row in the statement
  that creates the share, so an event exists exactly when its share was committed.
- `todo_reminders`: receipts keyed by (todo_id, remind_at). A receipt means "the reminder
  for this `remind_at` value has been fanned out"; its primary key is what sends a reminder
  once per `remind_at` value. Moving `remind_at` (or completing a recurring todo, which
  moves it to the next occurrence) makes a new key, which arms the reminder again.
- `push_deliveries`: one message for one device of one recipient, with its text and data
  payload. It is the unit that is claimed, sent, retried and recorded.

Dispatch (`common.push.dispatch`) runs rounds of these steps, each a single statement:
1. `arm_share_events`: claims up to `ARM_BATCH` unprocessed events `FOR UPDATE SKIP LOCKED`,
   marks them processed and queues one delivery per device of the recipient.
2. `arm_reminders`: takes up to `ARM_BATCH` todos whose `remind_at` has passed (at most
   `REMINDER_WINDOW` ago: older ones are stale, e.g. back-dated todos or a long outage),
   that are open, not deleted and have no receipt for their current `remind_at`, locking
   them `FOR NO KEY UPDATE SKIP LOCKED`; inserts their receipts `ON CONFLICT DO NOTHING` and
   queues deliveries only for the receipts it inserted. Two overlapping dispatches never
   both insert a receipt, so a reminder is fanned out once even when one dispatch's
   snapshot predates the other's commit. Recipients: the owner and every user with live
   access, the same rule as `common.shareable.access.received`: a share of the todo itself, or a
   `recursive` share of an ancestor, not expired. Revoked shares are rows that no longer
   exist; deleted todos are never due.
3. `claim_deliveries`: up to `SEND_BATCH` (FCM's `send_each` limit) pending deliveries whose
   `next_attempt_at` has come, `FOR UPDATE SKIP LOCKED`; counts the attempt and leases the
   rows by moving `next_attempt_at` `LEASE` ahead. This is committed before anything is
   sent, so an overlapping dispatch skips them (locked) or no longer finds them due
   (leased); no transaction stays open while FCM is called. A dispatcher that dies
   mid-send leaves its claims to come back when the lease ends.
4. `common.push.send`: FCM, outside any transaction.
5. `record_outcomes`: a success becomes `sent`; a transient failure (UNAVAILABLE, INTERNAL,
   QUOTA_EXCEEDED, a network error...) is due again after `retry_delay(attempts)`
   (`RETRY_BASE` doubling per attempt, at most `RETRY_CAP`), or `failed` once
   `MAX_ATTEMPTS` attempts were made; a token FCM reports as unregistered or invalid has
   its device deleted (its other deliveries go with it).
Every dispatch purges `finished_rows` (common.db.housekeeping): events processed and
deliveries last touched more than `RETENTION` ago (finished ones; a pending one is touched at
every attempt, so an untouched one was left behind, e.g. queued for a device that changed
owner meanwhile, and is stale by now), and receipts too old to match a due reminder.

Statement budget: the device routes run one statement each. Dispatch is a background job,
not a client request: it runs `1 + 3` statements per round plus one to record each batch it
sent, at most `MAX_ROUNDS` rounds (see common.push), every statement over a bounded batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    Delete,
    Float,
    Select,
    Text,
    and_,
    case,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.engine import RowMapping

from common.db.engine import Session
from common.db.models import (
    Device,
    DevicePlatform,
    PushDelivery,
    SharedTodo,
    ShareEvent,
    Todo,
    TodoReminder,
    User,
    delivery_state_enum,
)
from common.db.tables import bounded_delete
from common.shareable.access import live_share

devices = Device
share_events = ShareEvent
reminders = TodoReminder
deliveries = PushDelivery
todos = Todo
shared_todos = SharedTodo
users = User

MAX_DEVICES = 20  # per user; one more forgets the least recently seen
ARM_BATCH = 500  # share events, or due todos, turned into deliveries per statement
SEND_BATCH = 500  # deliveries claimed per round: FCM's send_each takes at most 500
REMINDER_WINDOW = timedelta(hours=24)  # a reminder first seen later than this is skipped
LEASE = timedelta(minutes=5)  # a claimed delivery is not due again before (> function timeout)
RETRY_BASE = timedelta(minutes=1)  # first retry after a transient failure; doubles each time
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 5
RETENTION = timedelta(days=7)  # processed events and finished deliveries are kept this long

# A constant, not a bound parameter, so the planner matches the partial indexes' predicates.
_PENDING = literal_column("'pending'::delivery_state", delivery_state_enum)

_DEVICE_COLUMNS = ("id", "platform", "created_at", "last_seen_at")


# --- devices ----------------------------------------------------------------------------


def put_device(
    *, session: Session, me: uuid.UUID, token: str, platform: DevicePlatform
) -> RowMapping:
    """Register the token for the caller, or refresh it; a token held by another user moves.

    One statement: the upsert, the drop of undelivered messages addressed to a former owner
    of the token, and the eviction of the caller's least recently seen devices beyond
    `MAX_DEVICES`. `created_at` restarts when the token changes owner."""
    d = devices
    new = insert(d).values(user_id=me, token=token, platform=platform)
    device = (
        new.on_conflict_do_update(
            index_elements=[d.c.token],
            set_={
                "user_id": new.excluded.user_id,
                "platform": new.excluded.platform,
                "last_seen_at": func.now(),
                "created_at": case(
                    (d.c.user_id == new.excluded.user_id, d.c.created_at), else_=func.now()
                ),
            },
        )
        .returning(*(d.c[name] for name in _DEVICE_COLUMNS))
        .cte("device")
    )
    mine = d.alias("mine")
    evicted = delete(d).where(
        d.c.id.in_(
            select(mine.c.id)
            .where(mine.c.user_id == me, mine.c.token != token)
            .order_by(mine.c.last_seen_at.desc(), mine.c.id)
            .offset(MAX_DEVICES - 1)
        )
    )
    orphaned = delete(deliveries).where(
        deliveries.c.device_id == device.c.id,
        deliveries.c.user_id != me,
        deliveries.c.state == _PENDING,
    )
    stmt = (
        select(*(device.c[name] for name in _DEVICE_COLUMNS))
        .add_cte(evicted.cte("evicted"))
        .add_cte(orphaned.cte("orphaned"))
    )
    return session.execute(stmt).mappings().one()


def list_devices(*, session: Session, me: uuid.UUID) -> list[RowMapping]:
    """The caller's devices (at most MAX_DEVICES), oldest registration first."""
    d = devices
    stmt = (
        select(*(d.c[name] for name in _DEVICE_COLUMNS))
        .where(d.c.user_id == me)
        .order_by(d.c.created_at, d.c.id)
    )
    return list(session.execute(stmt).mappings())


def delete_device(*, session: Session, me: uuid.UUID, device_id: uuid.UUID) -> bool:
    """Forget one of the caller's devices (and its undelivered messages); False if not theirs."""
    d = devices
    stmt = delete(d).where(d.c.id == device_id, d.c.user_id == me).returning(d.c.id)
    return session.execute(stmt).first() is not None


# --- dispatch: fan-out ------------------------------------------------------------------


def _text(value: str) -> Any:
    # Typed, so variadic functions (jsonb_build_object) can resolve a bound parameter.
    return cast(literal(value), Text)


def _queue(*, session: Session, taken: CTE, messages: Select[Any]) -> int:
    """Insert `messages` (user_id, device_id, kind, title, body, data) as deliveries, in the
    statement whose CTE `taken` claimed their source rows; returns how many it claimed."""
    queued = (
        insert(deliveries)
        .from_select(["user_id", "device_id", "kind", "title", "body", "data"], messages)
        .returning(deliveries.c.id)
        .cte("queued")
    )
    stmt = select(
        select(func.count()).select_from(taken).scalar_subquery(),
        select(func.count()).select_from(queued).scalar_subquery(),
    )
    return int(session.execute(stmt).one()[0])


def arm_share_events(*, session: Session, limit: int) -> int:
    """Turn up to `limit` unprocessed share events into deliveries; returns the events taken."""
    e = share_events
    claimed = (
        select(e.c.id)
        .where(e.c.processed_at.is_(None))
        .order_by(e.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("claimed")
    )
    processed = (
        update(e)
        .where(e.c.id.in_(select(claimed.c.id)))
        .values(processed_at=func.now())
        .returning(e.c.recipient_id, e.c.actor_id, e.c.resource_type, e.c.resource_id)
        .cte("processed")
    )
    actor = users.alias("actor")
    name = func.coalesce(actor.c.display_name, actor.c.username)
    messages = select(
        processed.c.recipient_id,
        devices.c.id,
        literal("share"),
        literal("Shared with you"),
        name + " shared a " + processed.c.resource_type + " with you",
        func.jsonb_build_object(
            _text("type"),
            _text("share"),
            _text("resource_type"),
            processed.c.resource_type,
            _text("resource_id"),
            cast(processed.c.resource_id, Text),
            _text("actor_id"),
            cast(processed.c.actor_id, Text),
        ),
    ).select_from(
        processed.join(devices, devices.c.user_id == processed.c.recipient_id).join(
            actor, actor.c.id == processed.c.actor_id
        )
    )
    return _queue(session=session, taken=processed, messages=messages)


def arm_reminders(*, session: Session, limit: int) -> int:
    """Fan out up to `limit` due reminders to their recipients' devices; returns todos taken."""
    t, r, s = todos, reminders, shared_todos
    due = (
        select(t.c.id, t.c.user_id, t.c.title, t.c.remind_at)
        .where(
            t.c.remind_at.is_not(None),
            t.c.remind_at <= func.now(),
            t.c.remind_at > func.now() - REMINDER_WINDOW,
            t.c.deleted_at.is_(None),
            ~t.c.done,
            ~exists().where(r.c.todo_id == t.c.id, r.c.remind_at == t.c.remind_at),
        )
        .order_by(t.c.remind_at, t.c.id)
        .limit(limit)
        .with_for_update(of=t, key_share=True, skip_locked=True)
        .cte("due")
    )
    armed = (
        insert(r)
        .from_select(["todo_id", "remind_at"], select(due.c.id, due.c.remind_at))
        .on_conflict_do_nothing()
        .returning(r.c.todo_id)
        .cte("armed")
    )
    # Each armed todo with itself and its ancestors, climbing only through live todos: a
    # recursive share of any of them reaches the todo (as common.shareable.access descends).
    chain = select(armed.c.todo_id, armed.c.todo_id.label("node_id")).cte("chain", recursive=True)
    node = t.alias("node")
    chain = chain.union(
        select(chain.c.todo_id, node.c.parent_id).where(
            node.c.id == chain.c.node_id,
            node.c.parent_id.is_not(None),
            node.c.deleted_at.is_(None),
        )
    )
    recipients = union(
        select(due.c.id.label("todo_id"), due.c.user_id).where(
            due.c.id.in_(select(armed.c.todo_id))
        ),
        select(chain.c.todo_id, s.c.shared_user_id).where(
            s.c.todo_id == chain.c.node_id,
            live_share(s),
            or_(s.c.recursive, chain.c.node_id == chain.c.todo_id),
        ),
    ).cte("recipients")
    messages = select(
        recipients.c.user_id,
        devices.c.id,
        literal("reminder"),
        literal("Reminder"),
        due.c.title,
        func.jsonb_build_object(
            _text("type"),
            _text("reminder"),
            _text("resource_type"),
            _text("todo"),
            _text("resource_id"),
            cast(due.c.id, Text),
        ),
    ).select_from(
        recipients.join(devices, devices.c.user_id == recipients.c.user_id).join(
            due, due.c.id == recipients.c.todo_id
        )
    )
    return _queue(session=session, taken=due, messages=messages)


# --- dispatch: the queue ----------------------------------------------------------------


def claim_deliveries(*, session: Session, limit: int) -> list[RowMapping]:
    """Claim up to `limit` due deliveries: one more attempt each, leased for `LEASE`.

    Rows: id, device_id, token, title, body, data, attempts."""
    d = deliveries
    claimable = (
        select(d.c.id, devices.c.token)
        .join(devices, and_(devices.c.id == d.c.device_id, devices.c.user_id == d.c.user_id))
        .where(d.c.state == _PENDING, d.c.next_attempt_at <= func.now())
        .order_by(d.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
        .cte("claimable")
    )
    stmt = (
        update(d)
        .where(d.c.id == claimable.c.id)
        .values(
            attempts=d.c.attempts + 1, next_attempt_at=func.now() + LEASE, updated_at=func.now()
        )
        .returning(
            d.c.id, d.c.device_id, claimable.c.token, d.c.title, d.c.body, d.c.data, d.c.attempts
        )
    )
    return list(session.execute(stmt).mappings())


def retry_delay(attempts: int) -> timedelta:
    """How long a delivery waits after its `attempts`-th attempt failed transiently."""
    delay: timedelta = RETRY_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_CAP)


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery."""

    delivery_id: uuid.UUID
    device_id: uuid.UUID
    attempts: int  # including the one just made
    result: Literal["sent", "retry", "prune"]
    error: str | None = None


def record_outcomes(*, session: Session, outcomes: Sequence[Outcome]) -> int:
    """Record a sent batch in one statement; returns how many devices were pruned.

    Deliveries to pruned devices are not updated: deleting the device deletes them."""
    pruned_ids = sorted({o.device_id for o in outcomes if o.result == "prune"})
    kept = [o for o in outcomes if o.device_id not in pruned_ids]
    pruned = (
        delete(devices).where(devices.c.id.in_(pruned_ids)).returning(devices.c.id).cte("pruned")
    )
    stmt = select(select(func.count()).select_from(pruned).scalar_subquery())
    if kept:
        rows: list[tuple[uuid.UUID, str, float, str | None]] = []
        for o in kept:
            if o.result == "sent":
                rows.append((o.delivery_id, "sent", 0.0, None))
            elif o.attempts >= MAX_ATTEMPTS:
                rows.append((o.delivery_id, "failed", 0.0, o.error))
            else:
                rows.append(
                    (o.delivery_id, "pending", retry_delay(o.attempts).total_seconds(), o.error)
                )
        outcome = values(
            column("id", UUID(as_uuid=True)),
            column("state", Text),
            column("delay_s", Float),
            column("error", Text),
            name="outcome",
        ).data(rows)
        d = deliveries
        stmt = stmt.add_cte(
            update(d)
            .where(d.c.id == outcome.c.id)
            .values(
                state=cast(outcome.c.state, delivery_state_enum),
                sent_at=case((outcome.c.state == "sent", func.now()), else_=d.c.sent_at),
                next_attempt_at=func.now()
                + func.make_interval(0, 0, 0, 0, 0, 0, outcome.c.delay_s),
                last_error=outcome.c.error,
                updated_at=func.now(),
            )
            .cte("recorded")
        )
    return int(session.execute(stmt).scalar_one())


def finished_rows(limit: int) -> list[Delete]:
    """Bounded deletes of what dispatch no longer needs (for common.db.housekeeping)."""
    e, d, r = share_events, deliveries, reminders
    return [
        bounded_delete(e, [e.c.id], e.c.processed_at < func.now() - RETENTION, limit),
        bounded_delete(d, [d.c.id], d.c.updated_at < func.now() - RETENTION, limit),
        # A receipt older than the window can never match a due todo again.
        bounded_delete(
            r,
            [r.c.todo_id, r.c.remind_at],
            r.c.remind_at < func.now() - REMINDER_WINDOW - RETENTION,
            limit,
        ),
    ]
