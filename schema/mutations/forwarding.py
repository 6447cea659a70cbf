"""What every forwarded mutation does: call the owner with the caller's credentials and an
idempotency key, turn outages into coded errors, and optionally wait for the write's facts."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from graphql import GraphQLError

from app.consistency import Facts, wait_folded
from app.owners import Accepted, Credentials, Owner, OwnerTimeout, OwnerUnavailable, Refused
from schema.context import Info

IDEMPOTENCY_HEADER = "Idempotency-Key"


@strawberry.interface(description="A write the owner accepted.")
class AcceptedWrite:
    folded: bool = strawberry.field(
        description="Whether the write's facts were already folded into the views when this "
        "answer was made (only ever true when the mutation was asked to wait for them)."
    )
    consistency_token: str = strawberry.field(
        description="Pass to `account` or `customer` to read a view that includes this write."
    )


def credentials(info: Info) -> Credentials:
    headers = getattr(info.context.request, "headers", None) or {}
    # Only the credentials factview verified are relayed (over a websocket, connection_init's).
    authorization = info.context.authorization
    key = headers.get(IDEMPOTENCY_HEADER)
    if key:
        # One client key may cover a document with several mutations: keep them apart,
        # deterministically, so a retry of the same document maps to the same keys.
        if len(info.operation.selection_set.selections) > 1:
            key = f"{key}:{info.path.key}"
    else:
        key = uuid.uuid4().hex
    return Credentials(authorization=authorization, idempotency_key=key)


async def forward(
    info: Info, owner: Owner, method: str, path: str, body: dict[str, Any]
) -> Accepted | Refused:
    owners = info.context.owners
    if owners is None:
        raise GraphQLError("writes are not enabled", extensions={"code": "UNAVAILABLE"})
    try:
        return await owners.send(owner, method, path, body, credentials(info))
    except OwnerTimeout as exc:
        raise GraphQLError(str(exc), extensions={"code": "OWNER_TIMEOUT", "owner": owner}) from exc
    except OwnerUnavailable as exc:
        raise GraphQLError(
            str(exc), extensions={"code": "OWNER_UNAVAILABLE", "owner": owner}
        ) from exc


async def settle(info: Info, accepted: Accepted, wait_for_fold: bool) -> tuple[bool, str]:
    """(folded, consistencyToken) for an accepted write; waits, bounded, when asked."""
    facts = Facts(accepted.source, tuple(accepted.fact_ids))
    folded = False
    if wait_for_fold:
        folded = await wait_folded(info.context.views.db, facts, info.context.fold_wait_seconds)
    return folded, facts.token()
