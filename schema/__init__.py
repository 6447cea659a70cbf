"""The GraphQL schema, composed from one module per view, plus writes and live updates."""

from __future__ import annotations

import strawberry

from schema.accounts import AccountQuery
from schema.customers import CustomerQuery
from schema.history import HistoryQuery
from schema.mutations import Mutation
from schema.subscriptions import Subscription


@strawberry.type
class Query(CustomerQuery, AccountQuery, HistoryQuery):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
