"""The customers owner against a real Tansu broker: its facts leave the outbox in order, as
CloudEvents, and a missing customer is a coded 404."""

from __future__ import annotations

from tests.integration.owners.harness import Owner, assert_error, assert_fact


async def test_customer_facts_arrive_in_order_as_cloudevents(customers_owner: Owner) -> None:
    http = customers_owner.http
    created = await http.post("/customers", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    body = created.json()
    customer_id = body["customerId"]
    assert body["name"] == "Ada" and body["email"] == "ada@example.com"
    assert body["source"] == "customers" and len(body["factIds"]) == 1

    updated = await http.patch(f"/customers/{customer_id}", json={"name": "Ada L."})
    assert updated.status_code == 200, updated.text
    assert updated.json()["email"] == "ada@example.com"  # the whole entity, not the change
    assert (await http.get(f"/customers/{customer_id}")).json() == {
        "customerId": customer_id,
        "name": "Ada L.",
        "email": "ada@example.com",
    }

    deleted = await http.delete(f"/customers/{customer_id}")
    assert deleted.status_code == 200, deleted.text
    assert_error(await http.get(f"/customers/{customer_id}"), 404, "not_found")
    assert_error(await http.delete(f"/customers/{customer_id}"), 404, "not_found")
    assert_error(
        await http.patch(f"/customers/{customer_id}", json={"name": "X"}), 404, "not_found"
    )

    facts = await customers_owner.reader.for_subject(customer_id, 3)
    fact_ids = [*body["factIds"], *updated.json()["factIds"], *deleted.json()["factIds"]]
    assert [f.event.get_id() for f in facts] == fact_ids
    assert_fact(
        facts[0],
        "customers",
        "customer.registered",
        {"customerId": customer_id, "name": "Ada", "email": "ada@example.com"},
    )
    assert_fact(
        facts[1],
        "customers",
        "customer.updated",
        {"customerId": customer_id, "name": "Ada L.", "email": "ada@example.com"},
    )
    assert_fact(facts[2], "customers", "customer.deleted", {"customerId": customer_id})
