"""`factview dev`: broker, database, demo owners and factview on this machine, with demo data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.console import Console
from starlette.applications import Starlette

from app.auth import verifier_from
from app.devstack.banner import dev_token, print_banner, web_app_urls
from app.devstack.embedded import (
    EmbeddedServerError,
    free_port,
    start_secantus,
    start_tansu,
)
from app.devstack.embedded import mongodb_uri as secantus_uri
from app.devstack.topics import ensure_topics
from app.http.asgi import create_app
from app.http.serving import RunningServer, start_server
from app.runtime import Runtime
from app.settings import Settings
from consumers.projections import PROJECTIONS
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

    # Each piece is stopped in the reverse order it started, however the run ends.
    async with contextlib.AsyncExitStack() as stack:
        # Started from the loop's own thread: the servers die with the thread that started them.
        kafka = start_tansu(None, work)
        stack.push_async_callback(asyncio.to_thread, kafka.stop)
        mongo = start_secantus(None, work / "secantus", work)
        stack.push_async_callback(asyncio.to_thread, mongo.stop)
        bootstrap = f"{HOST}:{kafka.port}"
        await ensure_topics(bootstrap, [CUSTOMERS_TOPIC, ACCOUNTS_TOPIC, PUBLISH_TOPIC])
        customers_port, accounts_port = free_port(), free_port()
        settings = _dev_settings(bootstrap, mongo.port, customers_port, accounts_port)
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
        for owner_app, owner_port in zip(owner_apps, (customers_port, accounts_port), strict=True):
            owner = await start_server(owner_app, HOST, owner_port)
            stack.push_async_callback(owner.stop)
            owners.append(owner)
        runtime = await Runtime.start(settings, PROJECTIONS)
        stack.push_async_callback(runtime.stop)
        api = await start_server(create_app(settings, runtime), HOST, port)
        stack.push_async_callback(api.stop)
        staff = dev_token(settings, "dev-staff", "staff")
        ids = await _seed(owner_apps, owners, staff)
        written = write_env_file(env_file, settings, api.url)
        stack.callback(remove_env_file, env_file, written)
        print_banner(
            console,
            api.url,
            owners,
            ids,
            bootstrap,
            settings.mongodb_uri,
            web_app_urls(api.url, settings, ids),
            {"staff": staff, "customer": dev_token(settings, ids[0], "customer")},
            env_file,
            PUBLISH_TOPIC,
        )
        await _until_stopped()
        console.print("[dim]stopping…[/]")


def _dev_settings(
    bootstrap: str, mongo_port: int, customers_port: int, accounts_port: int
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap_servers=bootstrap,
        kafka_topics=[CUSTOMERS_TOPIC, ACCOUNTS_TOPIC],
        mongodb_uri=secantus_uri(mongo_port),
        mongodb_database="factview",
        customers_owner_url=f"http://{HOST}:{customers_port}",
        accounts_owner_url=f"http://{HOST}:{accounts_port}",
        publish_topic=PUBLISH_TOPIC,
        graphiql=True,
        # GraphiQL's docs, autocomplete and validation need the schema; production keeps both
        # off (the defaults).
        introspection=True,
        web_app=True,
        auth_jwt_secret=SecretStr(secrets.token_urlsafe(32)),
    )


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
