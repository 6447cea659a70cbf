"""Any arrival order, duplicates and batching give what the reference fold (tests/support/oracle.py)
gives: balances, running balances, corrections, versions and the customer join.

Hypothesis draws everything, ids and times included, so tie-breaks on (source, id) are explored
and a failure replays. The first property is pure (the engine's fold rule, without I/O); the
second runs the real FoldEngine on the session SecantusDB, a fresh database per example.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.read.history import History
from app.read.transactions import Transactions
from app.store import database, make_client
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projection import Settled, State, fold, settle
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from tests.support import oracle, stored
from tests.support.facts import at

CUSTOMERS = ["c0", "c1", "c2"]
ACCOUNTS = ["a0", "a1", "a2", "a3"]

# Whole milliseconds (what BSON keeps), few distinct values so ties in `time` are common.
times = st.integers(min_value=0, max_value=12).map(lambda s: at(s // 2) + timedelta(milliseconds=s))
amounts = st.decimals(min_value=0, max_value=500, places=2).map(lambda d: f"{d:.2f}")
# Short ids from a small alphabet: two events at one time are ordered by (source, id), and
# hypothesis shrinks and replays them (a random uuid would do neither).
event_ids = st.text(alphabet="abc123", min_size=1, max_size=3)

Draft = tuple[str, str, Any, dict[str, Any]]  # source, type, time, data: an event without its id


@st.composite
def account_history(draw: st.DrawFn, account_id: str) -> list[Draft]:
    drafts: list[Draft] = []
    if draw(st.booleans()):
        customer = draw(st.sampled_from(CUSTOMERS))
        data = {"accountId": account_id, "customerId": customer, "currency": "EUR"}
        drafts.append(("accounts", "account.opened", draw(times), data))
    tx_ids = [f"{account_id}-t{i}" for i in range(draw(st.integers(0, 5)))]
    for tx in tx_ids:
        kind = draw(st.sampled_from(["account.deposited", "account.withdrawn"]))
        data = {
            "accountId": account_id,
            "transactionId": tx,
            "amount": draw(amounts),
            # Movements may name another currency than account.opened: before it, the first
            # movement's currency stands, also as of a past time.
            "currency": draw(st.sampled_from(["EUR", "USD"])),
        }
        drafts.append(("accounts", kind, draw(times), data))
    # Corrections of existing and of never-seen transactions, at any time (so also before them).
    for tx in draw(st.lists(st.sampled_from([*tx_ids, f"{account_id}-ghost"]), max_size=3)):
        data = {"accountId": account_id, "transactionId": tx, "amount": draw(amounts)}
        drafts.append(("accounts", "account.transaction-corrected", draw(times), data))
    if draw(st.booleans()):
        drafts.append(("accounts", "account.closed", draw(times), {"accountId": account_id}))
    return drafts


@st.composite
def customer_history(draw: st.DrawFn, customer_id: str) -> list[Draft]:
    drafts: list[Draft] = []
    if draw(st.booleans()):
        person = {"customerId": customer_id, "name": "first", "email": f"{customer_id}@x"}
        drafts.append(("customers", "customer.registered", draw(times), person))
    for n in range(draw(st.integers(0, 2))):
        person = {"customerId": customer_id, "name": f"name{n}", "email": f"{n}@x"}
        drafts.append(("customers", "customer.updated", draw(times), person))
    if draw(st.booleans()):
        drafts.append(("customers", "customer.deleted", draw(times), {"customerId": customer_id}))
    return drafts


def with_ids(draw: st.DrawFn, drafts: list[Draft]) -> list[FactEvent]:
    """Give each draft an id, unique per source (the same id in two sources is two events)."""
    events: list[FactEvent] = []
    for source in sorted({d[0] for d in drafts}):
        mine = [d for d in drafts if d[0] == source]
        ids = draw(st.lists(event_ids, min_size=len(mine), max_size=len(mine), unique=True))
        for (_, type_, time, data), id_ in zip(mine, ids, strict=True):
            subject = data.get("accountId") or data.get("customerId")
            events.append(FactEvent(source, id_, type_, subject, time, data))
    return events


@st.composite
def one_account(draw: st.DrawFn) -> list[FactEvent]:
    return with_ids(draw, draw(account_history("a0").filter(bool)))


@st.composite
def histories(draw: st.DrawFn) -> list[FactEvent]:
    drafts: list[Draft] = []
    for account_id in ACCOUNTS:
        drafts += draw(account_history(account_id))
    for customer_id in CUSTOMERS:
        drafts += draw(customer_history(customer_id))
    # A type nobody knows: logged, folded into nothing.
    if draw(st.booleans()):
        drafts.append(("accounts", "account.audited", draw(times), {"accountId": "a0"}))
    return with_ids(draw, drafts)


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


@given(one_account(), st.data())
def test_the_fold_does_not_depend_on_arrival_order(
    events: list[FactEvent], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    document, rows = _live_fold(arrival)
    assert stored.account(document, rows) == oracle.account(list(events))


def _in_order_batches() -> tuple[list[FactEvent], list[list[FactEvent]]]:
    """A customer and an account each changed again by a later batch, in order: the fold must
    start from the stored document (drawn deliveries reach this only now and then)."""
    person = {"customerId": "c0", "name": "first", "email": "c0@x"}
    opened = {"accountId": "a0", "customerId": "c0", "currency": "EUR"}
    deposit = {"accountId": "a0", "transactionId": "a0-t0", "amount": "5.00", "currency": "EUR"}
    events = [
        FactEvent("customers", "1", "customer.registered", "c0", at(0), person),
        FactEvent("accounts", "1", "account.opened", "a0", at(0), opened),
        FactEvent("customers", "2", "customer.deleted", "c0", at(1), {"customerId": "c0"}),
        FactEvent("accounts", "2", "account.deposited", "a0", at(1), deposit),
    ]
    return events, [events[:2], events[2:]]


# Examples: the hypothesis profile's (tests/conftest.py: `ci` by default, `dev` for fewer).
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(deliveries(), st.lists(times, min_size=1, max_size=1))
@example(_in_order_batches(), [at(1)])
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
        engine = FoldEngine(db, PROJECTIONS)
        for batch in batches:
            await engine.apply(batch)
        assert oracle.differences(oracle.views(events), await stored.read_views(db)) == []
        logged = sorted((e.source, e.id) for e in await stored.read_log(db))
        assert logged == sorted((e.source, e.id) for e in events)
        for moment in moments:
            # The past read from the rows equals the reference fold of the log up to then.
            expected = oracle.views([e for e in events if e.time <= moment])
            for account in ACCOUNTS:
                got = await History(db).account_as_of(account, moment)
                past = await Transactions(db).past(account, moment)
                page = await Transactions(db).page(account, first=100, past=past)
                read = stored.account(got, page.rows) if got is not None else None
                assert read == expected.accounts.get(account), (account, moment)
    finally:
        await client.drop_database(name)
        await client.close()
