"""The fast Decimal <-> Decimal128 path agrees with bson's own conversion, bit for bit."""

from __future__ import annotations

from decimal import Decimal

from bson.decimal128 import Decimal128
from hypothesis import given
from hypothesis import strategies as st

from app.store import to_decimal, to_decimal128

finite = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=40),
    st.integers(-6200, 6150),
)
specials = st.sampled_from(
    [Decimal("NaN"), Decimal("-Infinity"), Decimal("Infinity"), Decimal("-0.00")]
)


@given(st.one_of(finite, specials, st.decimals(allow_nan=False, places=2)))
def test_encoding_matches_bson(value: Decimal) -> None:
    try:
        expected = Decimal128(value)
    except Exception as exc:  # out of decimal128's range: ours must refuse the same way
        try:
            to_decimal128(value)
        except Exception as ours:
            assert type(ours) is type(exc)
            return
        raise AssertionError(f"{value!r} encoded, bson refused it") from exc
    assert to_decimal128(value).bid == expected.bid


@given(st.binary(min_size=16, max_size=16))
def test_decoding_matches_bson_for_any_bit_pattern(bid: bytes) -> None:
    stored = Decimal128.from_bid(bid)
    expected = stored.to_decimal()
    ours = to_decimal(stored)
    if expected.is_nan():
        assert ours.is_nan()
    else:
        assert ours.as_tuple() == expected.as_tuple()


def test_money_keeps_its_places() -> None:
    for text in ("0.00", "7.00", "-3.50", "1042.25", "0.01", "99999999999.99"):
        assert str(to_decimal(to_decimal128(Decimal(text)))) == text
