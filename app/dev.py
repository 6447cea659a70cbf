"""`factview dev`: broker, database, demo owners and factview on this machine, with demo data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr
from rich.console import Console

from app.asgi import create_app
from app.auth import Role, token_for, verifier_from
from app.embedded import EmbeddedServerError, ServerProcess, free_port, start_secantus, start_tansu
from app.embedded import mongodb_uri as secantus_uri
from app.runtime import Runtime
from app.serving import RunningServer, start_server
from app.settings import Settings
from app.topics import ensure_topics

HOST = "127.0.0.1"
CUSTOMERS_TOPIC = "customers.facts"
ACCOUNTS_TOPIC = "accounts.facts"
# factview's own Fact Events (consumers/outbox.py): the C -> D link of the chain.
PUBLISH_TOPIC = "customer-overview.facts"

# The article's bank example and a few more: money moves through the owners, never the views.
DEMO: list[dict[str, Any]] = [
    {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "accounts": [
            ("EUR", [("deposit", "10.00"), ("withdraw", "3.00")]),
            ("USD", [("deposit", "250.00")]),
        ],
    },
    {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "accounts": [
            ("EUR", [("deposit", "1200.50"), ("withdraw", "200.25"), ("deposit", "42.00")])
        ],
    },
    {"name": "Alan Turing", "email": "alan@example.com", "accounts": [("GBP", [])]},
]


@contextlib.asynccontextmanager
async def _server(process: ServerProcess) -> AsyncIterator[ServerProcess]:
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


async def seed(customers_url: str, accounts_url: str, staff_token: str) -> list[str]:
    """Create the demo data through the owners' HTTP API, as staff; returns the customer ids."""
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {staff_token}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        for person in DEMO:
            r = await http.post(
                f"{customers_url}/customers",
                json={"name": person["name"], "email": person["email"]},
            )
            r.raise_for_status()
            customer_id = r.json()["customerId"]
            ids.append(customer_id)
            for currency, moves in person["accounts"]:
                r = await http.post(
                    f"{accounts_url}/accounts",
                    json={"customerId": customer_id, "currency": currency},
                )
                r.raise_for_status()
                account_id = r.json()["accountId"]
                for kind, amount in moves:
                    path = "deposits" if kind == "deposit" else "withdrawals"
                    r = await http.post(
                        f"{accounts_url}/accounts/{account_id}/{path}", json={"amount": amount}
                    )
                    r.raise_for_status()
    return ids


async def run_dev(port: int) -> None:
    from upstream import accounts, customers

    console = Console()
    _check_port(port)
    work = Path(tempfile.mkdtemp(prefix="factview-dev-"))
    console.print(f"[dim]starting Tansu and SecantusDB (logs in {work})…[/]")
    # Started from the loop's own thread: the servers die with the thread that started them.
    kafka = start_tansu(None, work)
    async with _server(kafka):
        mongo = start_secantus(None, work / "secantus", work)
        async with _server(mongo):
            bootstrap = f"{HOST}:{kafka.port}"
            await ensure_topics(bootstrap, [CUSTOMERS_TOPIC, ACCOUNTS_TOPIC, PUBLISH_TOPIC])
            customers_port, accounts_port = free_port(), free_port()
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                kafka_bootstrap_servers=bootstrap,
                kafka_topics=[CUSTOMERS_TOPIC, ACCOUNTS_TOPIC],
                mongodb_uri=secantus_uri(mongo.port),
                mongodb_database="factview",
                customers_owner_url=f"http://{HOST}:{customers_port}",
                accounts_owner_url=f"http://{HOST}:{accounts_port}",
                publish_topic=PUBLISH_TOPIC,
                graphiql=True,
                web_app=True,
                auth_jwt_secret=SecretStr(secrets.token_urlsafe(32)),
            )
            # The owners verify tokens with factview's settings: one secret for the whole stack.
            verifier = verifier_from(settings)
            owners: list[RunningServer] = []
            try:
                owners.append(
                    await start_server(
                        customers.create_app(
                            str(work / "customers.sqlite3"),
                            bootstrap,
                            CUSTOMERS_TOPIC,
                            verifier=verifier,
                        ),
                        HOST,
                        customers_port,
                    )
                )
                owners.append(
                    await start_server(
                        accounts.create_app(
                            str(work / "accounts.sqlite3"),
                            bootstrap,
                            ACCOUNTS_TOPIC,
                            verifier=verifier,
                        ),
                        HOST,
                        accounts_port,
                    )
                )
                runtime = await Runtime.start(settings)
                try:
                    api = await start_server(create_app(settings, runtime), HOST, port)
                    try:
                        staff = dev_token(settings, "dev-staff", "staff")
                        ids = await seed(owners[0].url, owners[1].url, staff)
                        _banner(
                            console,
                            api.url,
                            owners,
                            ids,
                            bootstrap,
                            settings.mongodb_uri,
                            web_app_urls(api.url, settings, ids),
                            {
                                "staff": staff,
                                "customer": dev_token(settings, ids[0], "customer"),
                            },
                        )
                        await _until_stopped()
                        console.print("[dim]stopping…[/]")
                    finally:
                        await api.stop()
                finally:
                    await runtime.stop()
            finally:
                for owner in reversed(owners):
                    await owner.stop()


def _check_port(port: int) -> None:
    # Fail before starting anything, rather than after the servers and seed data are up.
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise EmbeddedServerError(f"port {HOST}:{port} is in use; pass --port") from None


def dev_token(settings: Settings, subject: str, role: Role) -> str:
    """A ready-made token for this dev stack's secret (valid for a working day)."""
    return token_for(settings, subject, role, ttl_seconds=12 * 3600)


def web_app_urls(api_url: str, settings: Settings, ids: list[str]) -> list[tuple[str, str]]:
    """The web app's URLs for the banner, as (label, url), the first being the one to open.

    The page reads `#token=` (then keeps it in localStorage) and sends it as a Bearer token:
    the first URL logs in as the first demo customer, the second as staff.
    """
    return [
        ("web app", f"{api_url}/app#token={dev_token(settings, ids[0], 'customer')}"),
        ("web app as staff", f"{api_url}/app#token={dev_token(settings, 'dev-staff', 'staff')}"),
    ]


def _banner(
    console: Console,
    api_url: str,
    owners: list[RunningServer],
    ids: list[str],
    bootstrap: str,
    mongo_uri: str,
    web_urls: list[tuple[str, str]],
    tokens: dict[str, str],
) -> None:
    console.print()
    console.print(f"[bold green]factview is up.[/] GraphiQL: [bold]{api_url}/graphql[/]")
    for label, url in web_urls:
        console.print(f"  {label}: [bold]{url}[/]", soft_wrap=True)
    console.print(f"  staff token: {tokens['staff']}", soft_wrap=True)
    console.print(f"  customer token ({ids[0]}): {tokens['customer']}", soft_wrap=True)
    headers = json.dumps({"Authorization": f"Bearer {tokens['staff']}"})
    # GraphiQL fills its headers editor from ?headers= and sends them in connection_init too.
    graphiql_staff = f"{api_url}/graphql?{urlencode({'headers': headers}, quote_via=quote)}"
    console.print(f"  GraphiQL as staff: {graphiql_staff}", soft_wrap=True)
    console.print(f"  customers owner: {owners[0].url}   accounts owner: {owners[1].url}")
    console.print(f"  kafka: {bootstrap}   mongodb: {mongo_uri}")
    console.print(
        f"  watch what factview publishes: KAFKA_BOOTSTRAP_SERVERS={bootstrap} "
        f".venv/bin/factview tail {PUBLISH_TOPIC}",
        soft_wrap=True,
    )
    console.print(f"  demo customers: {', '.join(ids)}")
    console.print(
        "  try: { customers { nodes { id name totalBalance accounts { id currency balance } } } }"
    )
    console.print("[dim]Ctrl-C stops everything.[/]")


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
