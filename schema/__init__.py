"""The GraphQL schema, composed from one module per view."""

from __future__ import annotations

import strawberry

from schema.accounts import AccountQuery
from schema.customers import CustomerQuery


@strawberry.type
class Query(CustomerQuery, AccountQuery):
    pass


schema = strawberry.Schema(query=Query)
