"""The GraphQL schema, composed from one module per view, plus writes and live updates."""

from __future__ import annotations

import strawberry
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig

from schema.accounts import AccountQuery
from schema.customers import CustomerQuery
from schema.events import HistoryQuery
from schema.extensions import Limits, extensions
from schema.mutations import Mutation as ForwardedMutation
from schema.operations import OperationsMutation, OperationsQuery
from schema.reporting import ServedSchema
from schema.subscriptions import Subscription


@strawberry.type
class Query(CustomerQuery, AccountQuery, HistoryQuery, OperationsQuery):
    pass


@strawberry.type
class Mutation(ForwardedMutation, OperationsMutation):
    pass


def build_schema(limits: Limits) -> strawberry.Schema:
    """The schema as one deployment serves it: limits, masking and hints per its settings."""
    return ServedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(limits),
        # Suggestions ("did you mean …") describe the schema: hidden with introspection.
        config=StrawberryConfig(disable_field_suggestions=not limits.introspection),
        hide_suggestions=not limits.introspection,
    )


# The plain schema, for printing the SDL and for tools; apps serve build_schema(...).
schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


def sdl() -> str:
    """The schema in SDL, as committed in schema.graphql (`factview schema` prints it)."""
    return print_schema(schema) + "\n"
