"""The `consistencyToken` argument of queries: read only once a given write is folded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from graphql import GraphQLError

from app.consistency import BadConsistencyToken, Facts, wait_folded
from schema.context import Info

TOKEN_DESCRIPTION = (
    "From a mutation's payload: wait (bounded) until that write is folded before reading."
)


async def await_token(
    info: Info, token: str | None, authorize: Callable[[], Awaitable[object]]
) -> None:
    """Return once the token's facts are folded; a coded error if they are not in time.

    `authorize` runs first: a caller that may not read the object waits for nothing.
    """
    if token is None:
        return
    try:
        facts = Facts.from_token(token)
    except BadConsistencyToken as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_CONSISTENCY_TOKEN"}) from None
    await authorize()
    timeout = info.context.fold_wait_seconds
    if not await wait_folded(info.context.views.db, facts, timeout):
        # Answering with an older view would break the promise the caller asked for.
        raise GraphQLError(
            f"the write was not folded within {timeout:g}s; retry the read",
            extensions={"code": "CONSISTENCY_TIMEOUT"},
        )
