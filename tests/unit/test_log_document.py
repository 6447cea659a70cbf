"""The log keeps everything a refold, a rebuild and the audit trail read back from it."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.decoding import decode
from consumers.facts import FactEvent, Position
from consumers.log import from_log_document, to_log_document
from tests.support.facts import account_event, at, raw

V1 = "https://schemas.example.com/account.deposited/1"


def test_an_event_read_back_from_the_log_is_the_event_that_was_logged() -> None:
    sent = account_event(
        "account.deposited",
        "a1",
        at(1.000123),
        "e-1",
        V1,
        transactionId="t1",
        amount="10.00",
        currency="EUR",
    )
    event = decode(raw(sent, topic="accounts.facts", offset=41))
    assert event.position == Position("accounts.facts", 0, 41)
    assert event.subject == "a1" and event.dataschema == V1

    logged = to_log_document(event)
    assert (logged["topic"], logged["partition"], logged["offset"]) == ("accounts.facts", 0, 41)
    again = from_log_document(logged)
    # Every field, microseconds of business time included (BSON dates stop at milliseconds).
    assert again == event
    assert again.time == event.time and again.time.microsecond == 123


def test_an_event_logged_without_a_kafka_position_comes_back_without_one() -> None:
    # Events written straight to the log (tests, a migration) have no topic/partition/offset.
    received = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    event = FactEvent(
        source="customers",
        id="e-2",
        type="customer.registered",
        subject=None,
        time=at(2),
        data={"customerId": "c1", "name": "Ada"},
        received_at=received,
    )
    logged = to_log_document(event)
    assert logged["topic"] is logged["partition"] is logged["offset"] is None
    again = from_log_document(logged)
    assert again.position is None and again.subject is None
    assert again.received_at == received and again.dataschema is None
    assert again == event
