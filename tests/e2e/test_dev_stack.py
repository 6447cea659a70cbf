"""`factview dev` as a person runs it: a write to an owner shows up in GraphQL; Ctrl-C stops all."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.devstack import DevStack, running_dev_stack


@pytest.fixture(scope="module")
def dev_stack() -> Iterator[DevStack]:
    with running_dev_stack() as stack:
        yield stack


def graphql(port: int, query: str, token: str) -> dict[str, object]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def eventually(probe, until, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    result = probe()
    while not until(result):
        assert time.monotonic() < deadline, f"not reached; last: {result!r}"
        time.sleep(0.1)  # poll interval, bounded by the deadline
        result = probe()
    return result


def test_a_write_to_an_owner_shows_up_in_graphql(dev_stack: DevStack) -> None:
    dev_stack.wait_for(r"factview is up\. GraphiQL: http://127\.0\.0\.1:(\d+)/graphql")
    owners = dev_stack.wait_for(r"customers owner: (\S+)\s+accounts owner: (\S+)")
    customers_url, accounts_url = owners.group(1), owners.group(2)
    staff = dev_stack.wait_for(r"staff token: (\S+)").group(1)
    # No token, nothing: the printed tokens are what a person uses.
    anonymous = httpx.post(
        f"http://127.0.0.1:{dev_stack.port}/graphql", json={"query": "{ __typename }"}
    )
    assert anonymous.status_code == 401

    # The seed data is there.
    seeded = eventually(
        lambda: graphql(dev_stack.port, "{ customers { nodes { name totalBalance } } }", staff),
        lambda b: "Ada Lovelace" in str(b),
    )
    assert "errors" not in seeded

    # The owners take no write without a token they verify themselves.
    r = httpx.post(f"{customers_url}/customers", json={"name": "Mallory", "email": "m@x.com"})
    assert r.status_code == 401, r.text

    # A write through the owner's HTTP API (as staff) shows up, folded, within a deadline.
    owner = httpx.Client(headers={"Authorization": f"Bearer {staff}"}, timeout=10)
    r = owner.post(
        f"{customers_url}/customers", json={"name": "Edsger", "email": "ewd@example.com"}
    )
    assert r.status_code == 201, r.text
    customer_id = r.json()["customerId"]
    r = owner.post(f"{accounts_url}/accounts", json={"customerId": customer_id, "currency": "EUR"})
    account_id = r.json()["accountId"]
    r = owner.post(f"{accounts_url}/accounts/{account_id}/deposits", json={"amount": "10.00"})
    assert r.status_code == 201, r.text
    r = owner.post(f"{accounts_url}/accounts/{account_id}/withdrawals", json={"amount": "3.00"})
    assert r.status_code == 201, r.text
    owner.close()

    query = f'{{ customer(id: "{customer_id}") {{ name totalBalance accounts {{ id balance }} }} }}'
    body = eventually(
        lambda: graphql(dev_stack.port, query, staff),
        lambda b: (
            b.get("data", {}).get("customer", {})
            and b["data"]["customer"]["totalBalance"] == "7.00"
        ),  # type: ignore[union-attr]
    )
    assert body["data"] == {
        "customer": {
            "name": "Edsger",
            "totalBalance": "7.00",
            "accounts": [{"id": account_id, "balance": "7.00"}],
        }
    }


def test_banner_lines_are_whole_when_the_output_is_not_a_terminal(dev_stack: DevStack) -> None:
    # devstack.py reads the output through a pipe with no COLUMNS: rich used to wrap at 80.
    line = dev_stack.wait_for(r"GraphiQL as staff: (\S+)$").group(1)
    headers = json.loads(parse_qs(urlsplit(line).query)["headers"][0])
    staff = headers["Authorization"].removeprefix("Bearer ")
    assert "errors" not in graphql(dev_stack.port, "{ __typename }", staff)


def test_dev_serves_introspection_and_suggestions(dev_stack: DevStack) -> None:
    # GraphiQL in dev needs the schema (docs, autocomplete, validation); production keeps
    # both off (tests/integration/test_limits.py).
    staff = dev_stack.wait_for(r"staff token: (\S+)").group(1)
    intro = graphql(dev_stack.port, "{ __schema { queryType { name } } }", staff)
    assert "errors" not in intro, intro
    assert intro["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    typo = graphql(dev_stack.port, "{ customerz(id: 1) { id } }", staff)
    assert "Did you mean" in str(typo["errors"])


def test_ctrl_c_stops_everything(dev_stack: DevStack) -> None:
    dev_stack.wait_for(r"factview is up")
    work = Path(dev_stack.wait_for(r"\(logs in (/[^)]+)\)").group(1))
    assert work.is_dir() and dev_stack.env_file.exists()
    servers = dev_stack.wait_for(
        r"kafka: 127\.0\.0\.1:(\d+)\s+mongodb: mongodb://127\.0\.0\.1:(\d+)"
    )
    owners = dev_stack.wait_for(
        r"customers owner: http://127\.0\.0\.1:(\d+)\s+accounts owner: http://127\.0\.0\.1:(\d+)"
    )
    ports = [dev_stack.port, *map(int, servers.groups()), *map(int, owners.groups())]
    assert all(_answers(p) for p in ports)
    dev_stack.process.send_signal(signal.SIGINT)
    assert dev_stack.process.wait(timeout=60) == 0
    # Nothing is left listening: no orphan broker, database or owner.
    assert [p for p in ports if _answers(p)] == []
    # Nor left on disk: the servers' data and logs, the settings for other commands.
    assert not work.exists()
    assert not dev_stack.env_file.exists()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
