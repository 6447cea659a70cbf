"""registerCustomer, updateCustomer: forwarded to the customers owner."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import strawberry

from app.owners import ID_RULE, Accepted, Refused, valid_id
from schema.context import Info
from schema.customers import Customer
from schema.mutations.errors import IdempotencyKeyReused, NotFound, ValidationFailed, user_error
from schema.mutations.forwarding import AcceptedWrite, forward, settle
from schema.mutations.idempotency import IdempotencyKeyArgument

WAIT_DESCRIPTION = "Wait (bounded) until the write is folded, so `customer` includes it."


@strawberry.type
class CustomerWritten(AcceptedWrite):
    customer_id: strawberry.ID
    name: str
    email: str

    # The customer view; includes this write when `folded`.
    @strawberry.field
    async def customer(self, info: Info) -> Customer | None:
        doc = await info.context.views.customer(str(self.customer_id))
        return Customer.from_view(doc) if doc else None


@strawberry.type
class RegisterCustomerSucceeded(CustomerWritten):
    pass


@strawberry.type
class UpdateCustomerSucceeded(CustomerWritten):
    pass


RegisterCustomerResult = Annotated[
    RegisterCustomerSucceeded | ValidationFailed | IdempotencyKeyReused,
    strawberry.union("RegisterCustomerResult"),
]
UpdateCustomerResult = Annotated[
    UpdateCustomerSucceeded | NotFound | ValidationFailed | IdempotencyKeyReused,
    strawberry.union("UpdateCustomerResult"),
]


async def _written(info: Info, accepted: Accepted, wait_for_fold: bool) -> dict[str, Any]:
    folded, token = await settle(info, accepted, wait_for_fold)
    body = accepted.body
    return {
        "customer_id": strawberry.ID(body["customerId"]),
        "name": body["name"],
        "email": body["email"],
        "folded": folded,
        "consistency_token": token,
    }


@strawberry.type
class CustomerMutation:
    # Register a customer (customers owner).
    @strawberry.mutation
    async def register_customer(
        self,
        info: Info,
        name: str,
        email: str,
        wait_for_fold: Annotated[bool, strawberry.argument(description=WAIT_DESCRIPTION)] = True,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> RegisterCustomerResult:
        # Customers come into being through staff (or sign-up at the owner), not as a customer.
        info.context.views.require_staff("registering customers")
        body = {"name": name, "email": email}
        result = await forward(info, "customers", "POST", "/customers", body, idempotency_key)
        if isinstance(result, Refused):
            return user_error(result, (ValidationFailed, IdempotencyKeyReused))  # type: ignore[return-value]
        return RegisterCustomerSucceeded(**await _written(info, result, wait_for_fold))

    # Change a customer's name or e-mail (customers owner).
    @strawberry.mutation
    async def update_customer(
        self,
        info: Info,
        id: strawberry.ID,
        name: str | None = None,
        email: str | None = None,
        wait_for_fold: Annotated[bool, strawberry.argument(description=WAIT_DESCRIPTION)] = True,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> UpdateCustomerResult:
        if not valid_id(str(id)):
            return ValidationFailed(message=f"id must be {ID_RULE}", field="id")
        info.context.views.require_customer(str(id))
        changes = {k: v for k, v in {"name": name, "email": email}.items() if v is not None}
        if not changes:
            return ValidationFailed(message="give a name, an email or both")
        path = f"/customers/{quote(str(id), safe='')}"
        result = await forward(info, "customers", "PATCH", path, changes, idempotency_key)
        if isinstance(result, Refused):
            allowed = (NotFound, ValidationFailed, IdempotencyKeyReused)
            return user_error(result, allowed)  # type: ignore[return-value]
        return UpdateCustomerSucceeded(**await _written(info, result, wait_for_fold))
