"""The owner's shares and tag links of a shareable item (todos, memos, contacts).

Each function is one statement on success; when the caller does not own the item, a second
statement tells 404 (cannot see it) from 403 (a sharee, who may not manage it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping

from common import errors
from common.db.engine import Session
from common.db.models import Permission, ShareEvent, Tag, User
from common.shareable import access
from common.shareable.access import Shareable

users = User
tags = Tag
share_events = ShareEvent

_PERMISSION = {"read": Permission.R, "write": Permission.W}
_PERMISSION_NAME = {Permission.R: "read", Permission.W: "write"}


def _share_columns(spec: Shareable, shares: Any) -> list[Any]:
    columns = [
        users.c.id.label("user_id"),
        users.c.username,
        users.c.display_name,
        shares.c.permissions,
        shares.c.expiration,
    ]
    if spec.recursive:
        columns.append(shares.c.recursive)
    return columns


def to_out(row: RowMapping) -> dict[str, Any]:
    """A share row as ShareOut's fields."""
    out = {
        "user": {
            "id": row["user_id"],
            "username": row["username"],
            "display_name": row["display_name"],
        },
        "permission": _PERMISSION_NAME[row["permissions"]],
        "expires_at": row["expiration"],
    }
    if "recursive" in row:
        out["recursive"] = row["recursive"]
    return out


def list_shares(
    *, session: Session, spec: Shareable, me: uuid.UUID, item_id: uuid.UUID
) -> list[RowMapping]:
    """Every share of the caller's item, expired ones included (they grant nothing)."""
    own = access.own_item(spec, me, item_id)
    s = spec.share_table
    stmt = (
        select(own.c.id.label("item_id"), *_share_columns(spec, s))
        .select_from(
            own.outerjoin(s, spec.share_item == own.c.id).outerjoin(
                users, users.c.id == s.c.shared_user_id
            )
        )
        .order_by(s.c.created_at, users.c.id)
    )
    rows = list(session.execute(stmt).mappings())
    if not rows:
        raise access.owner_only(session, spec, me, item_id)
    return [row for row in rows if row["user_id"] is not None]


def put_share(
    *,
    session: Session,
    spec: Shareable,
    me: uuid.UUID,
    item_id: uuid.UUID,
    email: str,
    permission: str,
    expires_at: datetime | None,
    recursive: bool | None = None,
) -> RowMapping:
    """Create or update the share of the caller's item with the user owning `email`.

    The same statement writes the outbox row that dispatch turns into a "shared with you"
    push (common.db.notifications): no event without the share, no share without the event.
    An event is written when the share starts granting access: a new share, or one renewed
    after it had expired. Changing the permission, expiry or `recursive` of a live share
    writes none. `xmax = 0` on the upserted row tells an insert from an update (the row an
    ON CONFLICT update returns carries the updating transaction's id in `xmax`), so of two
    concurrent first shares with the same user only the one that inserted emits."""
    t = spec.table
    own_columns: list[Any] = [t.c.id]
    if spec.unshareable is not None:
        own_columns.append(t.c[spec.unshareable].label("unshareable"))
    own_item = select(*own_columns).where(
        t.c.id == item_id, t.c.user_id == me, t.c.deleted_at.is_(None)
    )
    if spec.unshareable is not None:
        # FOR SHARE: a concurrent change of the item (making a memo secret) commits first and
        # is read here, or waits for this share to commit and then sees it (memos.update_memo).
        own_item = own_item.with_for_update(read=True, of=t)
    own = own_item.cte("own_item")
    recipient = (
        select(users.c.id, users.c.username, users.c.display_name)
        .where(users.c.email == email, users.c.deleted_at.is_(None))
        .cte("recipient")
    )
    s = spec.share_table
    values: dict[str, Any] = {
        spec.share_fk: own.c.id,
        "shared_user_id": recipient.c.id,
        "permissions": literal(_PERMISSION[permission], s.c.permissions.type),
        "expiration": literal(expires_at, s.c.expiration.type),
    }
    if spec.recursive:
        values["recursive"] = literal(True if recursive is None else recursive)
    source = (
        select(*values.values())
        .select_from(own)
        .join(recipient, literal(True))
        .where(recipient.c.id != me)
    )
    if spec.unshareable is not None:
        source = source.where(own.c.unshareable.is_(False))
    new = insert(s).from_select(list(values), source)
    changed = {k: new.excluded[k] for k in values if k not in (spec.share_fk, "shared_user_id")}
    upsert = (
        new.on_conflict_do_update(
            index_elements=[spec.share_item, s.c.shared_user_id],
            set_={**changed, "updated_at": func.now()},
        )
        .returning(
            *(s.c[k] for k in values), literal_column("(xmax = 0)", Boolean).label("created")
        )
        .cte("upserted")
    )
    prior = s.alias("prior")  # the statement's snapshot: the share as it was before
    renewed = exists().where(
        prior.c[spec.share_fk] == upsert.c[spec.share_fk],
        prior.c.shared_user_id == upsert.c.shared_user_id,
        prior.c.expiration <= func.now(),
    )
    event = insert(share_events).from_select(
        ["recipient_id", "actor_id", "resource_type", "resource_id"],
        select(
            upsert.c.shared_user_id,
            literal(me, share_events.c.actor_id.type),
            literal(spec.name, share_events.c.resource_type.type),
            upsert.c[spec.share_fk],
        ).where(or_(upsert.c.created, renewed)),
    )
    stmt = select(
        select(own.c.id).scalar_subquery().label("own_id"),
        (
            select(own.c.unshareable).scalar_subquery()
            if spec.unshareable is not None
            else literal(False)
        ).label("unshareable"),
        recipient.c.id.label("user_id"),
        recipient.c.username,
        recipient.c.display_name,
        upsert.c.permissions,
        upsert.c.expiration,
        *([upsert.c.recursive] if spec.recursive else []),
    ).select_from(
        select(literal(1).label("one"))
        .subquery("one")
        .outerjoin(recipient, literal(True))
        .outerjoin(upsert, upsert.c.shared_user_id == recipient.c.id)
    )
    stmt = stmt.add_cte(event.cte("share_event"))
    row = session.execute(stmt).mappings().one()
    if row["own_id"] is None:
        raise access.owner_only(session, spec, me, item_id)
    if row["unshareable"]:
        raise errors.Conflict(f"A {spec.unshareable} {spec.name} cannot be shared.")
    if row["user_id"] is None:
        raise errors.NotFound("No user has this email address.")
    if row["user_id"] == me:
        raise errors.ValidationFailed(
            [errors.FieldError("email", "you cannot share with yourself")]
        )
    return row


def delete_share(
    *, session: Session, spec: Shareable, me: uuid.UUID, item_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Revoke a share; revoking one that does not exist is a no-op (idempotent DELETE)."""
    own = access.own_item(spec, me, item_id)
    s = spec.share_table
    revoked = (
        delete(s)
        .where(spec.share_item == own.c.id, s.c.shared_user_id == user_id)
        .returning(s.c.shared_user_id)
        .cte("revoked")
    )
    stmt = select(select(own.c.id).scalar_subquery().label("own_id")).add_cte(revoked)
    if session.execute(stmt).scalar() is None:
        raise access.owner_only(session, spec, me, item_id)


def set_tag(
    *,
    session: Session,
    spec: Shareable,
    me: uuid.UUID,
    item_id: uuid.UUID,
    tag_id: uuid.UUID,
    linked: bool,
) -> None:
    """Link (`linked=True`) or unlink one of the caller's tags; both are idempotent.

    A change bumps the item's version (its representation lists tag_ids)."""
    own = access.own_item(spec, me, item_id)
    tag = (
        select(tags.c.id)
        .where(tags.c.id == tag_id, tags.c.user_id == me, tags.c.deleted_at.is_(None))
        .cte("own_tag")
    )
    link = spec.tag_table
    if linked:
        change: Any = (
            insert(link)
            .from_select(
                [spec.tag_fk, "tag_id"],
                select(own.c.id, tag.c.id).select_from(own.join(tag, true())),
            )
            .on_conflict_do_nothing()
            .returning(spec.tag_item)
        )
    else:
        change = (
            delete(link)
            .where(spec.tag_item == own.c.id, link.c.tag_id == tag.c.id)
            .returning(spec.tag_item)
        )
    changed = change.cte("changed")
    t = spec.table
    bumped = (
        update(t)
        .where(t.c.id.in_(select(changed.c[spec.tag_fk])))
        .values(version=t.c.version + 1, updated_at=func.now())
        .cte("bumped")
    )
    stmt = select(
        select(own.c.id).scalar_subquery().label("own_id"),
        select(tag.c.id).scalar_subquery().label("tag_id"),
    ).add_cte(bumped)
    row = session.execute(stmt).one()
    if row.own_id is None:
        raise access.owner_only(session, spec, me, item_id)
    if row.tag_id is None:
        raise errors.NotFound("No such tag.")
