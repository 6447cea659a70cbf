"""A customer is shown by the one-document read (`CustomerProjection.visible`) exactly when the
many-document read's filter (`CustomerProjection.visible_query`) selects it.

The filter is evaluated by a small matcher written here from MongoDB's documented semantics for
the only operator the filter uses (`$ne`), so the test needs no server. Should the filter grow
another operator, the matcher refuses it and the test fails until the matcher learns it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consumers.facts import FactEvent
from consumers.projection import State, fold
from consumers.projections.customer import CustomerProjection
from tests.support.facts import at


def _same(a: Any, b: Any) -> bool:
    # BSON compares booleans only with booleans and numbers with numbers: true is not 1 there.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    return type(a) is type(b) and a == b


def _equals(doc: dict[str, Any], field: str, value: Any) -> bool:
    """MongoDB equality on a top-level field: a missing field equals null, an array equals
    itself and each value it holds."""
    if field not in doc:
        return value is None
    held = doc[field]
    if isinstance(held, list):
        return _same(held, value) or any(_same(v, value) for v in held)
    return _same(held, value)


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """Whether `doc` matches `query`, a conjunction of `{field: {"$ne": value}}` only."""
    for field, condition in query.items():
        if (
            field.startswith("$")
            or "." in field
            or not isinstance(condition, dict)
            or list(condition) != ["$ne"]
        ):
            raise AssertionError(
                f"this test's matcher knows only {{field: {{'$ne': value}}}}, not "
                f"{field!r}: {condition!r}; teach it the operator's documented semantics"
            )
        if _equals(doc, field, condition["$ne"]):
            return False
    return True


def test_the_matcher_follows_mongodb_ne() -> None:
    assert matches({}, {"deleted": {"$ne": True}})
    assert not matches({}, {"deleted": {"$ne": None}})
    assert matches({"deleted": 1}, {"deleted": {"$ne": True}})
    assert not matches({"deleted": [False, True]}, {"deleted": {"$ne": True}})
    assert not matches({"deleted": True}, {"deleted": {"$ne": True}})


# States as the fold leaves them, from any sequence of the customer's events.
CUSTOMER_EVENTS = st.sampled_from(["customer.registered", "customer.updated", "customer.deleted"])


@st.composite
def folded_states(draw: st.DrawFn) -> State:
    types = draw(st.lists(CUSTOMER_EVENTS, max_size=4))
    events = [
        FactEvent(
            "customers",
            f"e{n}",
            type_,
            "c1",
            at(draw(st.integers(0, 5))),
            {"customerId": "c1", "name": f"n{n}", "email": f"{n}@x"},
        )
        for n, type_ in enumerate(types)
    ]
    return fold(CustomerProjection, "c1", events)


# States as a stored document may hold them: `deleted` true, false, null or missing (a document
# written before the field existed), beside other fields the predicate must not read.
@st.composite
def stored_states(draw: st.DrawFn) -> State:
    state = CustomerProjection.initial(draw(st.sampled_from(["c1", "c2"])))
    state["name"] = draw(st.none() | st.text(max_size=4))
    state["version"] = draw(st.integers(0, 3))
    deleted = draw(st.sampled_from([True, False, None, "missing"]))
    if deleted == "missing":
        del state["deleted"]
    else:
        state["deleted"] = deleted
    return state


# No deadline and no speed health check: what is checked is agreement, not speed, and a loaded
# 2-core machine (or mutmut's tracing) can stall one example, or drawing one, for seconds.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(folded_states(), stored_states()))
@example({"id": "c1", "deleted": True})
@example({"id": "c1", "deleted": False})
@example({"id": "c1", "deleted": None})
@example({"id": "c1"})
def test_visible_and_visible_query_select_the_same_customers(state: State) -> None:
    document = {"_id": state["id"], **state}  # as the engine stores it
    assert matches(document, CustomerProjection.visible_query()) == CustomerProjection.visible(
        state
    ), state
