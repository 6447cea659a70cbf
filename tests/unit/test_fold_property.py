"""Any arrival order, duplicates and batching give what a from-scratch fold in time order gives.

The first property is pure (the fold alone, as the engine drives it); the second runs the real
FoldEngine on the session SecantusDB, a fresh database per example.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.history import History
from app.store import database, make_client
from app.transactions import Transactions
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projection import Settled, State, fold, settle
from consumers.projections.account import AccountProjection
from tests.facts import at
from tests.scratch import differences, logged_events, stored_views, views_from_scratch

CUSTOMERS = ["c0", "c1", "c2"]
ACCOUNTS = ["a0", "a1", "a2", "a3"]

# Whole milliseconds (what BSON keeps), few distinct values so ties in `time` are common.
times = st.integers(min_value=0, max_value=12).map(lambda s: at(s // 2) + timedelta(milliseconds=s))
amounts = st.decimals(min_value=0, max_value=500, places=2).map(lambda d: f"{d:.2f}")


def _event(source: str, type_: str, time: Any, **data: Any) -> FactEvent:
    subject = data.get("accountId") or data.get("customerId")
    return FactEvent(source, uuid.uuid4().hex, type_, subject, time, data)


@st.composite
def account_history(draw: st.DrawFn, account_id: str) -> list[FactEvent]:
    events: list[FactEvent] = []
    if draw(st.booleans()):
        customer = draw(st.sampled_from(CUSTOMERS))
        events.append(
            _event(
                "accounts",
                "account.opened",
                draw(times),
                accountId=account_id,
                customerId=customer,
                currency="EUR",
            )
        )
    tx_ids = [f"{account_id}-t{i}" for i in range(draw(st.integers(0, 5)))]
    for tx in tx_ids:
        kind = draw(st.sampled_from(["account.deposited", "account.withdrawn"]))
        events.append(
            _event(
                "accounts",
                kind,
                draw(times),
                accountId=account_id,
                transactionId=tx,
                amount=draw(amounts),
                currency="EUR",
            )
        )
    # Corrections of existing and of never-seen transactions, at any time (so also before them).
    for tx in draw(st.lists(st.sampled_from([*tx_ids, f"{account_id}-ghost"]), max_size=3)):
        events.append(
            _event(
                "accounts",
                "account.transaction-corrected",
                draw(times),
                accountId=account_id,
                transactionId=tx,
                amount=draw(amounts),
            )
        )
    if draw(st.booleans()):
        events.append(_event("accounts", "account.closed", draw(times), accountId=account_id))
    return events


@st.composite
def customer_history(draw: st.DrawFn, customer_id: str) -> list[FactEvent]:
    events: list[FactEvent] = []
    person = {"customerId": customer_id, "email": f"{customer_id}@example.com"}
    if draw(st.booleans()):
        events.append(
            _event("customers", "customer.registered", draw(times), name="first", **person)
        )
    for n in range(draw(st.integers(0, 2))):
        events.append(
            _event("customers", "customer.updated", draw(times), name=f"name{n}", **person)
        )
    if draw(st.booleans()):
        events.append(_event("customers", "customer.deleted", draw(times), customerId=customer_id))
    return events


@st.composite
def histories(draw: st.DrawFn) -> list[FactEvent]:
    events: list[FactEvent] = []
    for account_id in ACCOUNTS:
        events += draw(account_history(account_id))
    for customer_id in CUSTOMERS:
        events += draw(customer_history(customer_id))
    # A type nobody knows: logged, folded into nothing.
    if draw(st.booleans()):
        events.append(_event("accounts", "account.audited", draw(times), accountId="a0"))
    return events


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[FactEvent], list[list[FactEvent]]]:
    """The events, and the batches they arrive in: shuffled, some twice, cut anywhere."""
    events = draw(histories())
    again = draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    arrival = draw(st.permutations(events + again))
    cuts = sorted(draw(st.sets(st.integers(0, len(arrival)), max_size=6)))
    bounds = [0, *cuts, len(arrival)]
    batches = [arrival[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return events, batches


def _summary(doc: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if doc is None:
        return None
    fields = ("customerId", "currency", "status", "balance", "transactionCount", "version")
    return (*(doc[f] for f in fields), doc["updatedAt"])


def _row(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[f] for f in ("id", "kind", "amount", "corrected", "balanceAfter"))


def _live_fold(arrival: list[FactEvent]) -> Settled:
    """The engine's rule without I/O: each new event folded as it comes, late or not."""
    seen: set[str] = set()
    state: State | None = None
    for event in arrival:
        if event.log_id in seen:
            continue
        seen.add(event.log_id)
        state = fold(AccountProjection, "a0", [event], state)
    assert state is not None
    return settle(AccountProjection, state)


@given(account_history("a0").filter(bool), st.data())
def test_the_fold_does_not_depend_on_arrival_order(
    events: list[FactEvent], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    assert _live_fold(arrival) == settle(AccountProjection, fold(AccountProjection, "a0", events))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(deliveries(), st.lists(times, min_size=1, max_size=2))
async def test_the_engine_equals_a_fold_from_scratch(
    mongo_uri: str,
    delivery: tuple[list[FactEvent], list[list[FactEvent]]],
    moments: list[datetime],
) -> None:
    events, batches = delivery
    client = make_client(mongo_uri)
    name = f"prop_{uuid.uuid4().hex[:10]}"
    try:
        db = database(client, name)
        engine = FoldEngine(db)
        for batch in batches:
            await engine.apply(batch)
        assert differences(views_from_scratch(events), await stored_views(db)) == []
        logged = sorted(e.log_id for e in await logged_events(db))
        assert logged == sorted(e.log_id for e in events)
        for moment in moments:
            # The past read from the rows equals a fold of the log up to that time.
            expected = views_from_scratch([e for e in events if e.time <= moment])
            history = History(db)
            for account in ACCOUNTS:
                want = expected["accounts"].get(account)
                got = await history.account_as_of(account, moment)
                assert _summary(got) == _summary(want), (account, moment)
                page = await Transactions(db).page(
                    account, first=100, past=await Transactions(db).past(account, moment)
                )
                want_rows = sorted(
                    (r for r in expected["transactions"].values() if r["accountId"] == account),
                    key=lambda r: r["pos"],
                )
                assert [_row(r) for r in page.rows] == [_row(r) for r in want_rows]
    finally:
        await client.drop_database(name)
        await client.close()
