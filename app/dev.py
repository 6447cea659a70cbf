"""`factview dev`: broker, database, demo owners and factview on this machine, with demo data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
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
from starlette.applications import Starlette

from app.asgi import create_app
from app.auth import Role, token_for, verifier_from
from app.embedded import EmbeddedServerError, ServerProcess, free_port, start_secantus, start_tansu
from app.embedded import mongodb_uri as secantus_uri
from app.runtime import Runtime
from app.serving import RunningServer, start_server
from app.settings import Settings
from app.topics import ensure_topics
from upstream import dev_seed

HOST = "127.0.0.1"
CUSTOMERS_TOPIC = "customers.facts"
ACCOUNTS_TOPIC = "accounts.facts"
# factview's own Fact Events (consumers/outbox.py): the C -> D link of the chain.
PUBLISH_TOPIC = "customer-overview.facts"
# Where the stack's settings go, for the commands run in a second terminal (rebuild, refold,
# dead-letters): Settings reads this file when it is present.
ENV_FILE = Path(".env.dev")

# A few customers besides the seeded story's (upstream/dev_seed.py): created through the
# owners' HTTP API now, as any client would.
DEMO: list[dict[str, Any]] = [
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


async def run_dev(port: int, env_file: Path = ENV_FILE) -> None:
    # soft_wrap: lines keep their length when the output is not a terminal (URLs carry tokens).
    console = Console(soft_wrap=True)
    check_port(port)
    work = Path(tempfile.mkdtemp(prefix="factview-dev-"))
    console.print(f"[dim]starting Tansu and SecantusDB (logs in {work})…[/]")
    try:
        await _run_stack(console, port, work, env_file)
    except Exception:
        console.print(f"[dim]server logs kept in {work}[/]")
        raise
    # Stopped as asked (or interrupted while starting): nothing of this run is worth keeping.
    shutil.rmtree(work, ignore_errors=True)


async def _run_stack(console: Console, port: int, work: Path, env_file: Path) -> None:
    from upstream import accounts, customers

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
                # GraphiQL's docs, autocomplete and validation need the schema; production
                # keeps both off (the defaults).
                introspection=True,
                web_app=True,
                auth_jwt_secret=SecretStr(secrets.token_urlsafe(32)),
            )
            # The owners verify tokens with factview's settings: one secret for the whole stack.
            verifier = verifier_from(settings)
            owner_apps = (
                customers.create_app(
                    str(work / "customers.sqlite3"), bootstrap, CUSTOMERS_TOPIC, verifier=verifier
                ),
                accounts.create_app(
                    str(work / "accounts.sqlite3"), bootstrap, ACCOUNTS_TOPIC, verifier=verifier
                ),
            )
            owners: list[RunningServer] = []
            try:
                for owner_app, owner_port in zip(
                    owner_apps, (customers_port, accounts_port), strict=True
                ):
                    owners.append(await start_server(owner_app, HOST, owner_port))
                runtime = await Runtime.start(settings)
                try:
                    api = await start_server(create_app(settings, runtime), HOST, port)
                    try:
                        staff = dev_token(settings, "dev-staff", "staff")
                        ids = await _seed(owner_apps, owners, staff)
                        written = write_env_file(env_file, settings, api.url)
                        try:
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
                                env_file,
                            )
                            await _until_stopped()
                            console.print("[dim]stopping…[/]")
                        finally:
                            remove_env_file(env_file, written)
                    finally:
                        await api.stop()
                finally:
                    await runtime.stop()
            finally:
                for owner in reversed(owners):
                    await owner.stop()


async def _seed(
    owner_apps: tuple[Starlette, Starlette], owners: list[RunningServer], staff_token: str
) -> list[str]:
    """The story, straight into the owners' stores, then the customers made over HTTP: the ids."""
    customers, accounts = (app.state.owner for app in owner_apps)
    await asyncio.to_thread(dev_seed.seed_customers, customers)
    await asyncio.to_thread(dev_seed.seed_accounts, accounts)
    for owner in (customers, accounts):  # publish the story now, not at the relay's next poll
        owner.relay.notify()
    return [dev_seed.CUSTOMER, *await seed(owners[0].url, owners[1].url, staff_token)]


def check_port(port: int) -> None:
    # Fail before starting anything, rather than after the servers and seed data are up.
    with socket.socket() as s:
        # As uvicorn binds: connections of a stopped run lingering in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            raise EmbeddedServerError(
                f"port {HOST}:{port} is in use; pass --port (make run PORT=…)"
            ) from None


def env_file_text(settings: Settings, api_url: str) -> str:
    """The stack's settings as `.env` lines, for commands run against it from this folder."""
    assert settings.auth_jwt_secret is not None
    values = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPICS": ",".join(settings.kafka_topics),
        "MONGODB_URI": settings.mongodb_uri,
        "MONGODB_DATABASE": settings.mongodb_database,
        "CUSTOMERS_OWNER_URL": settings.customers_owner_url,
        "ACCOUNTS_OWNER_URL": settings.accounts_owner_url,
        "AUTH_JWT_SECRET": settings.auth_jwt_secret.get_secret_value(),
    }
    lines = [
        f"# Written by `factview dev` (pid {os.getpid()}) for the stack at {api_url}.",
        "# factview commands run from this folder read it; it is removed when that stack stops.",
        *(f"{name}='{value}'" for name, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, settings: Settings, api_url: str) -> str:
    text = env_file_text(settings, api_url)
    # Owner-only: it holds this run's token secret.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return text


def remove_env_file(path: Path, written: str) -> None:
    # Only our own: another dev stack started since may have written its settings there.
    with contextlib.suppress(OSError):
        if path.read_text() == written:
            path.unlink()


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
    env_file: Path,
) -> None:
    console.print()
    console.print(f"[bold green]factview is up.[/] GraphiQL: [bold]{api_url}/graphql[/]")
    for label, url in web_urls:
        console.print(f"  {label}: [bold]{url}[/]")
    console.print(f"  staff token: {tokens['staff']}")
    console.print(f"  customer token ({ids[0]}): {tokens['customer']}")
    headers = json.dumps({"Authorization": f"Bearer {tokens['staff']}"})
    # GraphiQL fills its headers editor from ?headers= and sends them in connection_init too.
    graphiql_staff = f"{api_url}/graphql?{urlencode({'headers': headers}, quote_via=quote)}"
    console.print(f"  GraphiQL as staff: {graphiql_staff}")
    console.print(f"  customers owner: {owners[0].url}   accounts owner: {owners[1].url}")
    console.print(f"  kafka: {bootstrap}   mongodb: {mongo_uri}")
    console.print(
        f"  watch what factview publishes: KAFKA_BOOTSTRAP_SERVERS={bootstrap} "
        f".venv/bin/factview tail {PUBLISH_TOPIC}"
    )
    console.print(f"  demo customers: {', '.join(ids)}")
    console.print(
        f"  seeded: {dev_seed.CUSTOMER} ({dev_seed.NAME}) with {dev_seed.EUR_ACCOUNT} and "
        f"{dev_seed.USD_ACCOUNT}, the article's bank story dated {dev_seed.STORY_START:%Y-%m-%d}"
    )
    console.print(f"  settings for factview commands in another terminal: {env_file}")
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
