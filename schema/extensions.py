"""Schema extensions: limits and masking by settings, operation latency, freshness hints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from schema.context import Context


@dataclass(frozen=True)
class Limits:
    max_depth: int = 6
    max_aliases: int = 15
    max_tokens: int = 1000
    introspection: bool = False
    mask_errors: bool = True
    # Operation names that get their own metric label (the trusted documents'); others: `other`.
    known_operations: frozenset[str] = frozenset()


def deliberate(error: GraphQLError) -> bool:
    """Errors we raise on purpose (with a code) and validation errors reach the client."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError)


class OperationTiming(SchemaExtension):
    """GraphQL operation latency by operation name, into the process's metrics.

    Clients choose operation names: only known ones become labels, so the series stay bounded.
    """

    def __init__(self, known: frozenset[str] = frozenset()) -> None:
        self.known = known

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context.context
        metrics = getattr(context, "metrics", None)
        if metrics is not None:
            name = self.execution_context.operation_name
            label = "anonymous" if name is None else name if name in self.known else "other"
            metrics.operation_seconds.labels(label).observe(time.perf_counter() - started)


class SubscriptionsOverWebSocket(SchemaExtension):
    """A subscription sent over HTTP would run as a query and answer a bare null: say why."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        request = getattr(context, "request", None)
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION and not isinstance(
            request, WebSocket
        ):
            raise GraphQLError(
                "subscriptions are served over WebSocket (graphql-transport-ws) only",
                extensions={"code": "BAD_REQUEST"},
            )
        yield


class CodedErrors(SchemaExtension):
    """A document the service refuses (syntax, validation, limits) says so in extensions.code.

    Listed after MaskErrors, so it sees the errors before they are masked: one with no code and
    no original error was raised by parsing or validation, never by a resolver.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        for error in getattr(self.execution_context.result, "errors", None) or ():
            if error.original_error is None and "code" not in (error.extensions or {}):
                syntax = error.message.startswith("Syntax Error")
                code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
                error.extensions = {**(error.extensions or {}), "code": code}


class FreshnessHint(SchemaExtension):
    """Each view's newest folded event time, in the response's `extensions`."""

    async def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        freshness = getattr(context, "freshness", None) if isinstance(context, Context) else None
        if freshness is None:
            return {}
        principal = context.views.caller
        if principal is None:
            return {}
        fresh = self._is_mutation()
        if principal.role == "staff":
            newest = await freshness.newest(fresh=fresh)
        else:
            newest = await freshness.newest_for(principal.subject, fresh=fresh)
        return {"freshness": {view: moment.isoformat() for view, moment in sorted(newest.items())}}

    def _is_mutation(self) -> bool:
        try:
            return self.execution_context.operation_type is OperationType.MUTATION
        except RuntimeError:  # the document did not parse, or names no such operation
            return False


def extensions(limits: Limits) -> list[Callable[[], SchemaExtension]]:
    """Factories, not instances: each operation gets extensions of its own (they hold state).

    Validating a document costs ~2.5 ms here, parsing ~0.25 ms, and clients send the same few
    documents again and again: both are cached (bounded LRU, keyed by the query text and the
    parse options, then by the parsed document and the rules). The limiters' rule classes are
    made once, here: made per operation (as QueryDepthLimiter and MaxAliasesLimiter do) they
    would be new classes each time and the validation cache would never hit.
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    if not limits.introspection:
        rules.extend(DisableIntrospection().validation_rules)
    chosen: list[Callable[[], SchemaExtension]] = [
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
        ParserCache,
        ValidationCache,
        partial(OperationTiming, limits.known_operations),
        SubscriptionsOverWebSocket,
        FreshnessHint,
    ]
    if limits.mask_errors:
        chosen.append(partial(MaskErrors, should_mask_error=_should_mask))
    chosen.append(CodedErrors)
    return chosen


def _should_mask(error: GraphQLError) -> bool:
    return not deliberate(error)
