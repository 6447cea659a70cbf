"""Staff-only operations: dead letters and documents, from GraphQL, audited (app/operations.py)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError

from app.operations import Operations
from consumers.dead_letters import NotDiscardable, page_letters
from consumers.projections import by_name
from schema.context import Info
from schema.pagination import (
    MAX_PAGE,
    Connection,
    check_first,
    connection,
    decode_cursor,
    encode_cursor,
)
from schema.quarantine import Quarantine, QuarantinedDocument


@strawberry.enum
class DeadLetterStatus(enum.Enum):
    PENDING = "pending"
    REDRIVEN = "redriven"
    DISCARDED = "discarded"
    ALL = "all"


def _text(raw: Any) -> str | None:
    # Poison may be any bytes: shown as UTF-8 with replacement characters, never refused.
    return None if raw is None else bytes(raw).decode("utf-8", errors="replace")


@strawberry.type(description="A Kafka record that could not become a Fact Event, kept as received.")
class DeadLetter:
    id: strawberry.ID
    status: DeadLetterStatus
    reason: str
    attempts: int
    topic: str
    partition: int
    offset: int
    consumer_group: str
    key: str | None
    value: str | None
    first_seen: datetime
    last_seen: datetime
    redriven_at: datetime | None
    discarded_by: str | None
    discard_reason: str | None
    discarded_at: datetime | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DeadLetter:
        return cls(
            id=strawberry.ID(doc["_id"]),
            status=DeadLetterStatus(doc["status"]),
            reason=doc["reason"],
            attempts=doc.get("attempts", 0),
            topic=doc["topic"],
            partition=doc["partition"],
            offset=doc["offset"],
            consumer_group=doc.get("consumerGroup", ""),
            key=_text(doc.get("key")),
            value=_text(doc.get("value")),
            first_seen=doc["firstSeen"],
            last_seen=doc["lastSeen"],
            redriven_at=doc.get("redrivenAt"),
            discarded_by=doc.get("discardedBy"),
            discard_reason=doc.get("discardReason"),
            discarded_at=doc.get("discardedAt"),
        )


@strawberry.type
class RedriveFailure:
    id: strawberry.ID
    reason: str


@strawberry.type
class RedriveResult:
    redriven: list[strawberry.ID]
    still_failing: list[RedriveFailure]


@strawberry.type
class RefoldedDocument:
    view: str
    id: strawberry.ID
    # False: the log holds nothing for it, so the document was removed.
    exists: bool
    version: int | None


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _operations(info: Info, what: str) -> Operations:
    views = info.context.views
    views.require_staff(what)
    return Operations(
        views.db,
        info.context.projections,
        info.context.consumer_group,
        f"staff:{views.principal.subject}",
        info.context.metrics,
    )


def _ids(ids: list[strawberry.ID]) -> list[str]:
    if not ids:
        raise _bad_input("ids must name at least one document")
    if len(ids) > MAX_PAGE:
        raise _bad_input(f"at most {MAX_PAGE} ids at a time, got {len(ids)}")
    return [str(i) for i in ids]


def _position(cursor: str) -> tuple[datetime, str]:
    seen, sep, letter_id = decode_cursor("deadLetter", cursor).partition("|")
    try:
        moment: datetime | None = datetime.fromisoformat(seen)
    except ValueError:
        moment = None
    if not sep or moment is None:
        raise GraphQLError(
            f"invalid cursor {cursor!r} for deadLetter", extensions={"code": "BAD_CURSOR"}
        )
    return moment, letter_id


@strawberry.type
class OperationsQuery:
    # Staff only: dead letters, oldest first.
    @strawberry.field
    async def dead_letters(
        self,
        info: Info,
        status: DeadLetterStatus = DeadLetterStatus.PENDING,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[DeadLetter]:
        ops = _operations(info, "dead letters")
        first = check_first(20 if first is None else first)
        position = _position(after) if after is not None else None
        wanted = None if status is DeadLetterStatus.ALL else status.value
        docs, has_next = await page_letters(ops.db, wanted, first, position)
        items = [
            (
                encode_cursor("deadLetter", f"{d['firstSeen'].isoformat()}|{d['_id']}"),
                DeadLetter.from_doc(d),
            )
            for d in docs
        ]
        return connection(items, has_next)

    # Staff only: documents whose fold raised, stale until refolded.
    @strawberry.field
    async def quarantined(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[QuarantinedDocument]:
        ops = _operations(info, "quarantined documents")
        first = check_first(20 if first is None else first)
        position = None
        if after is not None:
            view, sep, key = decode_cursor("quarantined", after).partition("|")
            if not sep:
                raise GraphQLError(
                    f"invalid cursor {after!r} for quarantined", extensions={"code": "BAD_CURSOR"}
                )
            position = (view, key)
        found, has_next = await ops.quarantined(first, position)
        items = []
        for view, doc in found:
            mark = Quarantine.of(doc)
            assert mark is not None  # the query asked for marked documents only
            node = QuarantinedDocument(view=view, id=strawberry.ID(doc["_id"]), quarantine=mark)
            items.append((encode_cursor("quarantined", f"{view}|{doc['_id']}"), node))
        return connection(items, has_next)


@strawberry.type
class OperationsMutation:
    # Staff only: decode these letters again and fold those that now decode, once.
    @strawberry.mutation
    async def redrive_dead_letters(self, info: Info, ids: list[strawberry.ID]) -> RedriveResult:
        ops = _operations(info, "redriving dead letters")
        outcome = await ops.redrive(_ids(ids))
        return RedriveResult(
            redriven=[strawberry.ID(i) for i in outcome.redriven],
            still_failing=[
                RedriveFailure(id=strawberry.ID(i), reason=r)
                for i, r in outcome.still_failing.items()
            ],
        )

    # Staff only: mark a pending letter discarded (kept, with who and why).
    @strawberry.mutation
    async def discard_dead_letter(self, info: Info, id: strawberry.ID, reason: str) -> DeadLetter:
        ops = _operations(info, "discarding dead letters")
        if not reason.strip():
            raise _bad_input("reason must say why the letter is discarded")
        try:
            letter = await ops.discard(str(id), reason.strip())
        except NotDiscardable as exc:
            code = "NOT_FOUND" if str(exc).startswith("no dead letter") else "BAD_USER_INPUT"
            raise GraphQLError(str(exc), extensions={"code": code}) from exc
        return DeadLetter.from_doc(letter)

    # Staff only: fold these documents of a view again from the log.
    @strawberry.mutation
    async def refold(
        self, info: Info, view: str, ids: list[strawberry.ID]
    ) -> list[RefoldedDocument]:
        ops = _operations(info, "refolding documents")
        try:
            projection = by_name(view)
        except KeyError as exc:
            raise _bad_input(str(exc.args[0])) from exc
        states = await ops.refold(projection, _ids(ids))
        return [
            RefoldedDocument(
                view=projection.name,
                id=strawberry.ID(key),
                exists=state is not None,
                version=state[0].get("version") if state is not None else None,
            )
            for key, state in states.items()
        ]
