"""The typed refusals a mutation may return, and the mapping from the owners' error codes."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from app.writes.owners import Refused


@strawberry.interface(description="A refusal the caller can act on.")
class UserError:
    message: str


@strawberry.type
class ValidationFailed(UserError):
    field: str | None = None


@strawberry.type
class NotFound(UserError):
    pass


@strawberry.type
class InsufficientFunds(UserError):
    pass


@strawberry.type
class AccountClosed(UserError):
    pass


@strawberry.type(description="The Idempotency-Key was already used for a different request.")
class IdempotencyKeyReused(UserError):
    pass


ERRORS: dict[str, type[UserError]] = {
    "validation_error": ValidationFailed,
    "not_found": NotFound,
    "insufficient_funds": InsufficientFunds,
    "account_closed": AccountClosed,
    "idempotency_key_reused": IdempotencyKeyReused,
}


def user_error(refused: Refused, allowed: tuple[type[UserError], ...]) -> UserError:
    """The typed result for a refusal this mutation can return; anything else is an error."""
    kind = ERRORS.get(refused.code)
    if kind is not None and kind in allowed:
        return kind(message=refused.message)
    if refused.status in (401, 403):
        code = "UNAUTHENTICATED" if refused.status == 401 else "FORBIDDEN"
        raise GraphQLError(refused.message or code, extensions={"code": code})
    raise GraphQLError(
        f"owner refused the write: {refused.code or refused.status}: {refused.message}",
        extensions={"code": "OWNER_REFUSED", "ownerCode": refused.code},
    )
