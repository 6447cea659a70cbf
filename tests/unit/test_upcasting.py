"""Event versions: the dataschema names the version, converters chain it to what folds read."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from consumers.decoding import PoisonRecord, decode
from consumers.log import from_log_document, to_log_document
from consumers.projection import fold, settle
from consumers.projections.account import AccountProjection
from consumers.upcasting import version_of
from tests.support.facts import account_event, at, raw

V2 = "https://schemas.example.com/accounts/account.deposited/v2"


@pytest.mark.parametrize(
    ("dataschema", "version"),
    [
        (None, 1),
        ("", 1),
        ("https://x.example/account.deposited/v2", 2),
        ("https://x.example/account.deposited/v2/", 2),
        ("urn:accounts:deposited/3", 3),
        ("https://x.example/account.deposited/V12", 12),
        ("https://x.example/account.deposited/latest", None),
    ],
)
def test_the_version_is_the_last_segment_of_the_dataschema(
    dataschema: str | None, version: int | None
) -> None:
    assert version_of(dataschema) == version


@pytest.mark.parametrize("binary", [False, True], ids=["structured", "binary"])
def test_a_v2_deposit_folds_as_v1_and_the_log_keeps_what_was_received(binary: bool) -> None:
    received = {
        "accountId": "a1",
        "transactionId": "t1",
        "amount": {"value": "10.00", "currency": "EUR"},
    }
    event = account_event(
        "account.deposited",
        "a1",
        at(2),
        id_="e1",
        dataschema=V2,
        transactionId="t1",
        amount={"value": "10.00", "currency": "EUR"},
    )
    fact = decode(raw(event, binary=binary))
    assert fact.dataschema == V2
    assert fact.data == {
        "accountId": "a1",
        "transactionId": "t1",
        "amount": "10.00",
        "currency": "EUR",
    }
    logged = to_log_document(fact)
    assert logged["data"] == received and logged["dataschema"] == V2
    again = from_log_document(logged)
    assert again.data == fact.data and again.received_data == received


def test_v1_and_v2_events_fold_to_the_same_account() -> None:
    def events(dataschema: str | None) -> list:
        def money(amount: str) -> dict[str, object]:
            if dataschema is None:
                return {"amount": amount, "currency": "EUR"}
            return {"amount": {"value": amount, "currency": "EUR"}}

        w2 = dataschema.replace("deposited", "withdrawn") if dataschema else None
        return [
            decode(raw(e))
            for e in (
                account_event("account.opened", "a1", at(1), "e1", customerId="c1", currency="EUR"),
                account_event(
                    "account.deposited",
                    "a1",
                    at(2),
                    "e2",
                    dataschema=dataschema,
                    transactionId="t1",
                    **money("10.00"),
                ),
                account_event(
                    "account.withdrawn",
                    "a1",
                    at(3),
                    "e3",
                    dataschema=w2,
                    transactionId="t2",
                    **money("3.00"),
                ),
            )
        ]

    old, old_rows = settle(AccountProjection, fold(AccountProjection, "a1", events(None)))
    new, new_rows = settle(AccountProjection, fold(AccountProjection, "a1", events(V2)))
    assert old["balance"] == new["balance"] == Decimal("7.00")

    assert (old, old_rows) == (new, new_rows)


@pytest.mark.parametrize(
    ("dataschema", "data", "reason"),
    [
        (
            "https://x.example/account.deposited/v3",
            {"transactionId": "t1", "amount": "1.00", "currency": "EUR"},
            "account.deposited version 3: unknown version (known versions: 1, 2)",
        ),
        (
            "https://x.example/account.deposited/latest",
            {"transactionId": "t1", "amount": "1.00", "currency": "EUR"},
            "dataschema 'https://x.example/account.deposited/latest' names no version",
        ),
        (
            V2,
            {"transactionId": "t1", "amount": "1.00", "currency": "EUR"},
            "data fails AccountMovementV2: amount: Input should be a valid dictionary",
        ),
        (
            V2,
            {"transactionId": "t1", "amount": {"value": 1.5, "currency": "EUR"}},
            "amount.value: Value error, amount must be a decimal string",
        ),
        (
            "https://x.example/account.opened/v2",
            {"customerId": "c1", "currency": "EUR"},
            "account.opened version 2: unknown version (known versions: 1)",
        ),
    ],
)
def test_a_version_nobody_can_upcast_is_poison_with_its_reason(
    dataschema: str, data: dict[str, object], reason: str
) -> None:
    event_type = "account.opened" if "opened" in dataschema else "account.deposited"
    event = account_event(event_type, "a1", at(2), dataschema=dataschema, **data)
    with pytest.raises(PoisonRecord) as caught:
        decode(raw(event))
    assert reason in str(caught.value)


def test_unknown_types_pass_whatever_their_version() -> None:
    event = account_event("account.audited", "a1", at(2), dataschema="x/v9", auditor="x")
    fact = decode(raw(event))
    assert fact.data == {"accountId": "a1", "auditor": "x"} and fact.received is None
    assert fact.time == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
