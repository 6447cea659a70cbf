"""What every forwarded mutation does: call the owner with the caller's credentials and an
idempotency key, turn outages into coded errors, and optionally wait for the write's facts."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from app.consistency import Facts, wait_folded
from app.owners import Accepted, Credentials, Owner, OwnerTimeout, OwnerUnavailable, Refused
from schema.context import Info
from schema.mutations.idempotency import key_for


@strawberry.interface(description="A write the owner accepted.")
class AcceptedWrite:
    folded: bool = strawberry.field(
        description="Whether the write's facts were already folded into the views when this "
        "answer was made (only ever true when the mutation was asked to wait for them)."
    )
    consistency_token: str = strawberry.field(
        description="Pass to `account` or `customer` to read a view that includes this write."
    )


def credentials(info: Info, idempotency_key: str | None) -> Credentials:
    """What the owner sees: the token the auth layer verified for this operation (never a raw
    header) and this field's own idempotency key."""
    token = info.context.views.principal.token
    return Credentials(
        authorization=f"Bearer {token}" if token else None,
        idempotency_key=key_for(info, idempotency_key),
    )


async def forward(
    info: Info,
    owner: Owner,
    method: str,
    path: str,
    body: dict[str, Any],
    idempotency_key: str | None,
) -> Accepted | Refused:
    owners = info.context.owners
    if owners is None:
        raise GraphQLError("writes are not enabled", extensions={"code": "UNAVAILABLE"})
    sent_as = credentials(info, idempotency_key)
    try:
        return await owners.send(owner, method, path, body, sent_as)
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
