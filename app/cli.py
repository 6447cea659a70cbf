"""The `factview` command: serve, consume, rebuild, dev."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

import typer
import uvloop
from pydantic import ValidationError

from app.auth import AuthNotConfigured
from app.embedded import EmbeddedServerError
from app.logs import configure_logging
from app.serving import ServerFailed
from app.settings import Settings
from app.store import StoreUnavailable, connected
from consumers.runner import BrokerUnavailable

cli = typer.Typer(
    help="factview: a GraphQL read service folded from Fact Events.", no_args_is_help=True
)

_EXPECTED = (
    AuthNotConfigured,
    StoreUnavailable,
    BrokerUnavailable,
    EmbeddedServerError,
    ServerFailed,
    OSError,
)


def _settings() -> Settings:
    try:
        settings = Settings()
        configure_logging(settings.log_format, settings.log_level)
        return settings
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        _fail(f"bad setting {name}: {message}" if name else f"bad settings: {message}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"factview: {message}", err=True)
    raise typer.Exit(1)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        # uvloop: a faster event loop for every command (uvicorn's own default when it runs one).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    except _EXPECTED as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="HTTP port."),
    consume: bool | None = typer.Option(
        None, "--consume/--no-consume", help="Run the consumers too (default: the CONSUME setting)."
    ),
) -> None:
    """Run the GraphQL API and, unless told not to, the consumers in one process."""
    settings = _settings()
    _run(_serve(settings, host, port, settings.consume if consume is None else consume))


async def _serve(settings: Settings, host: str, port: int, consume: bool) -> None:
    import uvicorn

    from app.asgi import create_app, metrics_app
    from app.runtime import Runtime

    runtime = await Runtime.start(settings, consume=consume)
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, runtime),
                host=host,
                port=port,
                log_config=None,  # our JSON lines (app/logs.py), access lines included
                ws_max_size=settings.max_body_bytes,  # a bigger frame is refused while read
                h11_max_incomplete_event_size=settings.max_header_bytes,
            )
        )
        if settings.metrics_port is None:
            await server.serve()
            return
        scraped = uvicorn.Server(
            uvicorn.Config(
                metrics_app(runtime),
                host=settings.metrics_host,
                port=settings.metrics_port,
                log_config=None,  # access_log=False here would silence the API's lines too
            )
        )
        # Signals stop the API server; the metrics server follows it.
        scraped.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        beside = asyncio.create_task(scraped.serve())
        try:
            await server.serve()
        finally:
            scraped.should_exit = True
            await beside
    finally:
        await runtime.stop()


@cli.command("trusted-documents")
def trusted_documents(
    check: bool = typer.Option(False, "--check", help="Only say whether the file is current."),
) -> None:
    """Write the web app's trusted-documents manifest from its source (needs node)."""
    from app.web.manifest import MANIFEST, ManifestSourceError, page_documents, render

    try:
        text = render(page_documents())
    except ManifestSourceError as exc:
        _fail(str(exc))
    if check:
        if not MANIFEST.is_file() or MANIFEST.read_text() != text:
            _fail(f"{MANIFEST} is out of date: run `factview trusted-documents`")
        typer.echo(f"{MANIFEST} is current")
        return
    MANIFEST.write_text(text)
    typer.echo(f"wrote {MANIFEST}")


@cli.command()
def consume() -> None:
    """Run the consumers alone (no API)."""
    settings = _settings()
    _run(_consume(settings))


async def _consume(settings: Settings) -> None:
    from app.runtime import Runtime

    runtime = await Runtime.start(settings, consume=True, serve=False)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stopping.set)
    try:
        assert runtime.consumer_task is not None
        await asyncio.wait(
            [runtime.consumer_task, asyncio.create_task(runtime.stopping.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        await runtime.stop()
    if runtime.consumer_task.done() and not runtime.consumer_task.cancelled():
        exc = runtime.consumer_task.exception()
        if exc is not None:
            _fail(f"consumer stopped: {type(exc).__name__}: {exc}")


@cli.command()
def rebuild(
    views: list[str] = typer.Argument(None, help="Views to rebuild (default: all)."),
    lock_seconds: float = typer.Option(30.0, help="Expiry of the rebuild lock if we die."),
    chunk: int = typer.Option(500, help="Documents written to the shadow per round trip."),
) -> None:
    """Rebuild views from the local event log while consumers keep running, then swap."""
    from app.rebuild_command import run_rebuild, with_dependents
    from consumers.projections import PROJECTIONS, by_name
    from consumers.rebuild_lock import LockHeld

    settings = _settings()
    try:
        chosen = [by_name(v) for v in views] if views else list(PROJECTIONS)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    try:
        # A view that embeds a rebuilt one is rebuilt after it, so it embeds the new fold.
        _run(run_rebuild(settings, with_dependents(chosen), lock_seconds, chunk))
    except LockHeld as exc:
        _fail(str(exc))


@cli.command()
def refold(
    view: str = typer.Argument(..., help="The view (account, customer)."),
    ids: list[str] = typer.Option(..., "--id", help="Document id to fold again (repeatable)."),
) -> None:
    """Fold just these documents again from the log, in one transaction."""
    from app.rebuild_command import run_refold
    from consumers.projections import by_name

    settings = _settings()
    try:
        projection = by_name(view)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    _run(run_refold(settings, projection, ids, _cli_actor()))


@cli.command()
def dev(port: int = typer.Option(8000, help="factview's HTTP port.")) -> None:
    """Start broker, database, demo owners and factview on this machine, with demo data."""
    from app.dev import run_dev

    # A person watches this terminal: readable lines, warnings and up.
    configure_logging("console", "WARNING")
    _run(run_dev(port))


dead_letters = typer.Typer(help="Records that could not be decoded: list and redrive them.")
cli.add_typer(dead_letters, name="dead-letters")


@dead_letters.command("list")
def dead_letters_list(
    status: str = typer.Option("pending", help="pending, redriven, discarded or all."),
    limit: int = typer.Option(100, min=1, help="At most this many, oldest first."),
) -> None:
    """Show dead letters: where each record sat, how often it failed and why."""
    from consumers.dead_letters import STATUSES

    if status != "all" and status not in STATUSES:
        _fail(f"unknown status {status!r} (known: {', '.join(STATUSES)}, all)")
    settings = _settings()
    _run(_dead_letters_list(settings, None if status == "all" else status, limit))


async def _dead_letters_list(settings: Settings, status: str | None, limit: int) -> None:
    from consumers.dead_letters import list_letters

    async with connected(settings) as db:
        letters = await list_letters(db, status, limit)
    for letter in letters:
        typer.echo(
            f"{letter['_id']}  {letter['status']}  attempts={letter['attempts']}  "
            f"lastSeen={letter['lastSeen']:%Y-%m-%dT%H:%M:%SZ}  {letter['reason']}"
        )
    typer.echo(f"{len(letters)} dead letter(s)", err=True)


@dead_letters.command("redrive")
def dead_letters_redrive(
    ids: list[str] = typer.Argument(None, help="Letters to redrive (default: every pending one)."),
) -> None:
    """Decode the stored records again and fold those that now decode, once."""
    settings = _settings()
    _run(_dead_letters_redrive(settings, ids or None))


def _cli_actor() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


async def _dead_letters_redrive(settings: Settings, ids: list[str] | None) -> None:
    from app.operations import Operations

    async with connected(settings) as db:
        ops = Operations(
            db, settings.kafka_group_id, _cli_actor(), publish=settings.publish_topic is not None
        )
        outcome = await ops.redrive(ids)
    for letter_id, reason in outcome.still_failing.items():
        typer.echo(f"{letter_id}  still failing: {reason}", err=True)
    typer.echo(f"redriven: {len(outcome.redriven)}, still failing: {len(outcome.still_failing)}")


@dead_letters.command("discard")
def dead_letters_discard(
    letter_id: str = typer.Argument(..., help="The letter to discard."),
    reason: str = typer.Option(..., help="Why (kept with the letter, with who discarded it)."),
) -> None:
    """Mark a pending letter discarded: kept, never redriven."""
    if not reason.strip():
        _fail("--reason must say why")
    settings = _settings()
    _run(_dead_letters_discard(settings, letter_id, reason.strip()))


async def _dead_letters_discard(settings: Settings, letter_id: str, reason: str) -> None:
    from app.operations import Operations
    from consumers.dead_letters import NotDiscardable

    async with connected(settings) as db:
        try:
            letter = await Operations(db, settings.kafka_group_id, _cli_actor()).discard(
                letter_id, reason
            )
        except NotDiscardable as exc:
            _fail(str(exc))
    typer.echo(f"{letter['_id']}  discarded by {letter['discardedBy']}: {reason}")


@cli.command()
def tail(
    topic: str = typer.Argument(..., help="The topic to read, e.g. PUBLISH_TOPIC's."),
    from_beginning: bool = typer.Option(True, help="Start at the oldest record, else the newest."),
    count: int = typer.Option(0, min=0, help="Stop after this many records (0: follow)."),
    idle: float = typer.Option(0.0, min=0, help="Stop after this many seconds with nothing new."),
) -> None:
    """Print a topic's records as JSON lines (key, partition, offset, event): watch a chain."""
    settings = _settings()
    _run(_tail(settings, topic, from_beginning, count, idle))


async def _tail(
    settings: Settings, topic: str, from_beginning: bool, count: int, idle: float
) -> None:
    from app.tail import records

    async for line in records(
        settings.kafka_bootstrap_servers,
        topic,
        from_beginning=from_beginning,
        count=count,
        idle=idle,
        startup_timeout=settings.startup_timeout_seconds,
    ):
        typer.echo(line)


@cli.command()
def owner(
    service: str = typer.Argument(..., help="customers or accounts"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8001, help="HTTP port."),
) -> None:
    """Run one demo owner service (its SQLite store, outbox and relay to Kafka)."""
    from pydantic import ValidationError as SettingsError

    from app.auth import verifier_from
    from upstream import accounts, customers
    from upstream.settings import OwnerSettings

    apps = {"customers": customers.create_app, "accounts": accounts.create_app}
    if service not in apps:
        _fail(f"unknown owner {service!r} (known: customers, accounts)")
    try:
        settings = OwnerSettings()
        verifier = verifier_from(settings)
    except SettingsError as exc:
        _fail(f"bad setting: {exc.errors()[0]['msg']}")
    except AuthNotConfigured as exc:
        _fail(str(exc))
    topic = settings.owner_topic or f"{service}.facts"
    app = apps[service](
        settings.owner_database_path, settings.kafka_bootstrap_servers, topic, verifier=verifier
    )
    _run(_serve_owner(app, host, port))


async def _serve_owner(app: Any, host: str, port: int) -> None:
    import uvicorn

    await uvicorn.Server(uvicorn.Config(app, host=host, port=port)).serve()


def main() -> None:
    try:
        cli()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
