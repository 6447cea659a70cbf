"""CloudEvents decoding in both content modes, and the poison classes it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from consumers.decoding import PoisonRecord, RawRecord, decode
from tests.support.facts import account_event, at, raw

DEPOSIT = {"accountId": "a1", "transactionId": "t1", "amount": "10.00", "currency": "EUR"}


@pytest.mark.parametrize("binary", [False, True], ids=["structured", "binary"])
def test_both_content_modes_decode_to_the_same_event(binary: bool) -> None:
    event = account_event(
        "account.deposited",
        "a1",
        at(2),
        id_="e1",
        **{k: v for k, v in DEPOSIT.items() if k != "accountId"},
    )
    fact = decode(raw(event, binary=binary, topic="accounts.facts", offset=7))
    assert (fact.source, fact.id, fact.type, fact.subject) == (
        "accounts",
        "e1",
        "account.deposited",
        "a1",
    )
    assert fact.time == at(2)
    assert fact.data == DEPOSIT
    assert fact.position is not None and fact.position.offset == 7


def test_structured_without_content_type_header_decodes() -> None:
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": "e2",
            "source": "accounts",
            "type": "account.deposited",
            "subject": "a1",
            "time": "2026-01-01T00:00:02.5+02:00",
            "data": DEPOSIT,
        }
    ).encode()
    fact = decode(RawRecord("t", 0, 0, b"a1", value, ()))
    assert fact.time == datetime(2025, 12, 31, 22, 0, 2, 500000, tzinfo=UTC)


def test_unknown_types_decode_without_a_schema() -> None:
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": "e3",
            "source": "loyalty",
            "type": "points.earned",
            "time": "2026-01-01T00:00:00Z",
            "data": {"points": 3},
        }
    ).encode()
    assert decode(RawRecord("t", 0, 0, None, value, ())).type == "points.earned"


def _structured(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": "e",
        "source": "accounts",
        "type": "account.deposited",
        "subject": "a1",
        "time": "2026-01-01T00:00:00Z",
        "data": dict(DEPOSIT),
    }
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe not json", "not a CloudEvent"),
        (b'{"hello": "world"}', "not a CloudEvent"),
        (_structured(specversion="0.9"), "specversion"),
        (_structured(time="yesterday"), "not a CloudEvent"),
        (_structured(data={**DEPOSIT, "amount": 10.0}), "decimal string"),
        (_structured(data={**DEPOSIT, "amount": "-1.00"}), "negative"),
        (_structured(data={**DEPOSIT, "amount": "ten"}), "not a decimal"),
        (_structured(data={"amount": "1.00", "currency": "EUR"}), "accountId"),
        (_structured(data={**DEPOSIT, "transactionId": 5}), "transactionId"),
        (_structured(data={"$where": 1}, type="other.thing"), "starts with"),
        # The reasons in full: what a person reads in the dead letter.
        (_structured(type=None), "^missing required attributes: type$"),
        (_structured(source=None, id=None), "^missing required attributes: id, source$"),
        (_structured(id=""), "^missing required attributes: id$"),
        (_structured(specversion="0.9"), "^unsupported specversion '0.9'$"),
        (_structured(data=[1, 2]), "^data must be a JSON object, got list$"),
    ],
)
def test_poison_records_are_refused_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(PoisonRecord, match=reason):
        decode(RawRecord("t", 0, 0, None, value, ()))


def test_a_tombstone_is_poison() -> None:
    with pytest.raises(PoisonRecord, match="tombstone"):
        decode(RawRecord("t", 0, 0, b"k", None, ()))


def test_validated_money_stays_a_string_in_the_event() -> None:
    fact = decode(RawRecord("t", 0, 0, None, _structured(), ()))
    assert fact.data["amount"] == "10.00" and Decimal(fact.data["amount"]) == Decimal("10")
