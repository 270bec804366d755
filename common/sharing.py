"""The routes every shareable resource has, registered once for todos, memos and contacts:
`PUT|DELETE /{id}/tags/{tag_id}`, `GET|PUT /{id}/shares`, `DELETE /{id}/shares/{user_id}`.
Only the owner manages tags and shares: a sharee gets 403, anyone else 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel

from common import errors
from common.db import shares
from common.db.access import Shareable
from common.http import Api, Ctx
from common.schemas.shares import ShareIn


def add_sharing_routes(
    api: Api,
    spec: Shareable,
    *,
    share_in: type[ShareIn],
    share_out: type[BaseModel],
    share_page: type[BaseModel],
) -> None:
    item = "/<uuid:item_id>"
    name = spec.name

    @api.route(
        "PUT",
        f"{item}/tags/<uuid:tag_id>",
        status=204,
        errors=(403,),
        summary=f"Tag the {name} (idempotent)",
    )
    def put_tag(ctx: Ctx, item_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        shares.set_tag(
            ctx.session, spec=spec, me=ctx.user_id, item_id=item_id, tag_id=tag_id, linked=True
        )

    @api.route(
        "DELETE",
        f"{item}/tags/<uuid:tag_id>",
        status=204,
        errors=(403,),
        summary=f"Untag the {name} (idempotent)",
    )
    def delete_tag(ctx: Ctx, item_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        shares.set_tag(
            ctx.session, spec=spec, me=ctx.user_id, item_id=item_id, tag_id=tag_id, linked=False
        )

    @api.route(
        "GET",
        f"{item}/shares",
        response=share_page,
        errors=(403,),
        summary=f"The {name}'s shares (owner only)",
    )
    def list_shares(ctx: Ctx, item_id: uuid.UUID) -> BaseModel:
        rows = shares.list_shares(ctx.session, spec=spec, me=ctx.user_id, item_id=item_id)
        return share_page.model_validate({"items": [shares.to_out(row) for row in rows]})

    @api.route(
        "PUT",
        f"{item}/shares",
        body=share_in,
        response=share_out,
        errors=(403, 409),
        summary=f"Share the {name} with a user by email (create or update)",
    )
    def put_share(ctx: Ctx, item_id: uuid.UUID, body: ShareIn) -> BaseModel:
        if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
            raise errors.ValidationFailed(
                [errors.FieldError("expires_at", "must be in the future")]
            )
        row = shares.put_share(
            ctx.session,
            spec=spec,
            me=ctx.user_id,
            item_id=item_id,
            email=str(body.email),
            permission=body.permission,
            expires_at=body.expires_at,
            recursive=getattr(body, "recursive", None),
        )
        return share_out.model_validate(shares.to_out(row))

    @api.route(
        "DELETE",
        f"{item}/shares/<uuid:user_id>",
        status=204,
        errors=(403,),
        summary=f"Revoke a user's share of the {name} (idempotent)",
    )
    def delete_share(ctx: Ctx, item_id: uuid.UUID, user_id: uuid.UUID) -> None:
        shares.delete_share(
            ctx.session, spec=spec, me=ctx.user_id, item_id=item_id, user_id=user_id
        )
