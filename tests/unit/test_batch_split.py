"""A polled batch becomes events and dead letters; a dead letter keeps its record and reason."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from consumers.batch import DeadLetter, split
from consumers.decoding import RawRecord
from consumers.runner import to_raw
from tests.support.facts import account_event, at, raw


def test_poison_records_become_dead_letters_with_their_record_and_reason() -> None:
    good = raw(account_event("account.opened", "a1", at(1), customerId="c1", currency="EUR"))
    not_json = RawRecord("accounts.facts", 2, 7, b"a2", b"{not json", ())
    no_value = RawRecord("accounts.facts", 2, 8, b"a3", None, ())
    events, dead = split([not_json, good, no_value])
    assert [e.subject for e in events] == ["a1"]
    assert [d.record for d in dead] == [not_json, no_value]
    assert all(isinstance(d, DeadLetter) for d in dead)
    # Each says what is wrong with its record.
    assert dead[0].reason.startswith("PoisonRecord: not a CloudEvent: "), dead[0]
    assert dead[1].reason == "PoisonRecord: record has no value (tombstone)"


def test_a_consumed_record_keeps_its_key_value_headers_and_position() -> None:
    record = ConsumerRecord(
        topic="accounts.facts",
        partition=3,
        offset=12,
        timestamp=0,
        timestamp_type=0,
        key=b"a1",
        value=b"{}",
        checksum=None,
        serialized_key_size=2,
        serialized_value_size=2,
        headers=[("ce_type", b"account.opened"), ("ce_id", b"e-1")],
    )
    assert to_raw(record) == RawRecord(
        "accounts.facts", 3, 12, b"a1", b"{}", (("ce_type", b"account.opened"), ("ce_id", b"e-1"))
    )
