"""Forwarded writes: each calls the owning service; none writes a view."""

from __future__ import annotations

import strawberry

from schema.mutations.accounts import AccountMutation
from schema.mutations.customers import CustomerMutation


@strawberry.type
class Mutation(CustomerMutation, AccountMutation):
    pass
