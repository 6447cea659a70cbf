"""A realistic mixed stream of Fact Events for fault tests: late, duplicated, corrected, joined."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent

from consumers.decoding import decode
from consumers.facts import FactEvent
from tests.facts import account_event, at, customer_event, raw
from tests.support.stored import LoggedEvent


@dataclass
class Workload:
    customers: list[CloudEvent]
    accounts: list[CloudEvent]

    def facts(self) -> list[LoggedEvent]:
        """The events as sent, duplicates included, for the reference fold."""
        return [
            LoggedEvent(
                source=str(e.get_source()),
                id=str(e.get_id()),
                type=str(e.get_type()),
                time=e.get_time(),  # type: ignore[arg-type]
                data=e.get_data() or {},  # type: ignore[arg-type]
            )
            for e in self.customers + self.accounts
        ]

    def decoded(self) -> list[FactEvent]:
        """The events as the consumer decodes them (to feed an engine), duplicates included."""
        return [decode(raw(e)) for e in self.customers + self.accounts]

    @property
    def unique_ids(self) -> set[tuple[str, str]]:
        return {(str(e.get_source()), str(e.get_id())) for e in self.customers + self.accounts}


def workload(seed: int, prefix: str, accounts: int, events: int) -> Workload:
    """About `events` events over `accounts` accounts (and half as many customers), shuffled.

    Times are whole seconds from a small range, so ties and late arrivals are common; about one
    event in twenty is sent twice.
    """
    rng = random.Random(seed)
    customer_ids = [f"{prefix}-c{n}" for n in range(max(1, accounts // 2))]
    account_ids = [f"{prefix}-a{n}" for n in range(accounts)]
    horizon = max(10, events // accounts * 2)

    def when() -> float:
        return float(rng.randrange(horizon))

    cs: list[CloudEvent] = []
    for c in customer_ids:
        person = {"name": c, "email": f"{c}@example.com"}
        cs.append(customer_event("customer.registered", c, at(when()), **person))
        if rng.random() < 0.5:
            cs.append(customer_event("customer.updated", c, at(when()), **{**person, "name": "x"}))
        if rng.random() < 0.1:
            cs.append(customer_event("customer.deleted", c, at(when())))
    acs: list[CloudEvent] = []
    for a in account_ids:
        owner = rng.choice(customer_ids)
        acs.append(account_event("account.opened", a, at(when()), customerId=owner, currency="EUR"))
    tx = 0
    while len(cs) + len(acs) < events:
        a = rng.choice(account_ids)
        roll = rng.random()
        amount = f"{rng.randrange(1, 10_000) / 100:.2f}"
        if roll < 0.75:
            tx += 1
            kind = "account.deposited" if roll < 0.5 else "account.withdrawn"
            data = {"transactionId": f"tx{tx}", "amount": amount, "currency": "EUR"}
            acs.append(account_event(kind, a, at(when()), **data))
        elif roll < 0.95:
            # Names a transaction that may come later, or never.
            target = f"tx{rng.randrange(1, tx + 3)}"
            acs.append(
                account_event(
                    "account.transaction-corrected",
                    a,
                    at(when()),
                    transactionId=target,
                    amount=amount,
                )
            )
        else:
            acs.append(account_event("account.closed", a, at(when())))
    for stream in (cs, acs):
        stream += rng.sample(stream, len(stream) // 20)
        rng.shuffle(stream)
    return Workload(cs, acs)
