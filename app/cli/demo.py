"""`factview dev` (the whole stack on this machine) and `factview owner` (one demo owner).

The dev stack (app/devstack) is imported inside `dev` alone: it is not in the production image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from app.auth import AuthNotConfigured
from app.cli.command import fail, reads, run
from app.logs import configure_logging
from upstream.settings import OwnerSettings

commands = typer.Typer()


@commands.command(
    help="Start broker, database, demo owners and factview on this machine, with demo data."
    "\n\nReads no settings: it starts its own servers on free ports, prints their addresses "
    "and tokens, and writes them to ENV_FILE (.env.dev) for the other commands to read."
)
def dev(
    port: int = typer.Option(8000, help="factview's HTTP port."),
    env_file: Path = typer.Option(
        Path(".env.dev"), help="Where to write the stack's settings for other factview commands."
    ),
) -> None:
    from app.devstack.dev import run_dev
    from app.devstack.embedded import EmbeddedServerError
    from app.http.serving import ServerFailed

    # A person watches this terminal: readable lines, warnings and up.
    configure_logging("console", "WARNING")
    run(run_dev(port, env_file), expected=(EmbeddedServerError, ServerFailed))


@commands.command(
    help="Run one demo owner service (its SQLite store, outbox and relay to Kafka).\n\n"
    + reads(
        "KAFKA_BOOTSTRAP_SERVERS, OWNER_DATABASE_PATH, OWNER_TOPIC and the AUTH_* settings",
        OwnerSettings,
    )
)
def owner(
    service: str = typer.Argument(..., metavar="SERVICE", help="customers or accounts."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8001, help="HTTP port."),
) -> None:
    from pydantic import ValidationError as SettingsError

    from app.auth import verifier_from
    from upstream import accounts, customers

    apps = {"customers": customers.create_app, "accounts": accounts.create_app}
    if service not in apps:
        fail(f"unknown owner {service!r} (known: customers, accounts)")
    try:
        settings = OwnerSettings()
        verifier = verifier_from(settings)
    except SettingsError as exc:
        fail(f"bad setting: {exc.errors()[0]['msg']}")
    except AuthNotConfigured as exc:
        fail(str(exc))
    topic = settings.owner_topic or f"{service}.facts"
    app = apps[service](
        settings.owner_database_path, settings.kafka_bootstrap_servers, topic, verifier=verifier
    )
    run(_serve_owner(app, host, port))


async def _serve_owner(app: Any, host: str, port: int) -> None:
    import uvicorn

    await uvicorn.Server(uvicorn.Config(app, host=host, port=port)).serve()
