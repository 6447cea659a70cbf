"""The `factview` command: serve, consume, rebuild, refold, dev, dead letters, schema, owner."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from importlib.metadata import version
from os import PathLike
from pathlib import Path
from typing import Any, NoReturn

import typer
import typer.core
import uvloop
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from app.auth import AuthNotConfigured
from app.devstack.embedded import EmbeddedServerError
from app.http.serving import ServerFailed
from app.logs import configure_logging
from app.settings import Settings
from app.store import StoreUnavailable, connected
from consumers.runner import BrokerUnavailable
from upstream.settings import OwnerSettings


def _value_placeholder(
    param: typer.core.TyperArgument | typer.core.TyperOption, ctx: object
) -> str | None:
    """What help shows after an option: its metavar (`--port PORT`), nothing for a flag or an
    argument (the argument's name says it). typer labels each with its Python type
    (`<list[str]>`, `<bool>`) and has no switch for that, so the label is replaced here."""
    if isinstance(param, typer.core.TyperOption) and not param.is_flag:
        return param.metavar or (param.name or "value").upper()
    return None


typer.core.TyperArgument.display_type_rich = _value_placeholder  # type: ignore[assignment,method-assign]
typer.core.TyperOption.display_type_rich = _value_placeholder  # type: ignore[assignment,method-assign]


def _reads(what: str, settings: type[BaseSettings] = Settings) -> str:
    """The help paragraph naming where a command's settings come from."""
    files = settings.model_config.get("env_file") or ()
    names = [str(files)] if isinstance(files, str | PathLike) else [str(f) for f in files]
    return (
        f"Reads {what} from the environment, else from {' and '.join(names)} "
        "in the working directory."
    )


EVERY_SETTING = "every setting (the table in README.md: KAFKA_*, MONGODB_*, AUTH_*, OWNER_*, …)"
DATABASE = "MONGODB_URI, MONGODB_DATABASE and STARTUP_TIMEOUT_SECONDS"

cli = typer.Typer(
    help="factview: a GraphQL read service folded from Fact Events.",
    no_args_is_help=True,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"factview {version('factview')}")
        raise typer.Exit()


@cli.callback()
def main_options(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_show_version,
    ),
) -> None:
    pass


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


@cli.command(
    help=f"Run the GraphQL API and the consumers in one process.\n\n{_reads(EVERY_SETTING)}"
)
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

    from app.http.asgi import create_app
    from app.http.probes import metrics_app
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


@cli.command(
    "trusted-documents",
    help="Write the web app's trusted-documents manifest from its source (needs node)."
    "\n\nReads no settings.",
)
def trusted_documents(
    check: bool = typer.Option(False, "--check", help="Only say whether the file is current."),
) -> None:
    from app.http.web.manifest import MANIFEST, ManifestSourceError, page_documents, render

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


@cli.command(
    help="Run the consumers alone (no API).\n\n"
    + _reads("the KAFKA_*, MONGODB_*, LOG_* settings and STARTUP_TIMEOUT_SECONDS")
)
def consume() -> None:
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


@cli.command(
    help="Rebuild views from the local event log while consumers keep running, then swap."
    f"\n\n{_reads(DATABASE)}"
)
def rebuild(
    views: list[str] = typer.Argument(
        None, metavar="VIEW", help="Views to rebuild: account, customer (default: all)."
    ),
    lock_seconds: float = typer.Option(
        30.0, metavar="SECONDS", help="Expiry of the rebuild lock if we die."
    ),
    chunk: int = typer.Option(
        500, metavar="N", help="Documents written to the shadow per round trip."
    ),
) -> None:
    from app.cli.rebuild import run_rebuild, with_dependents
    from consumers.projections import PROJECTIONS, by_name
    from consumers.rebuild.fence import LockHeld

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


@cli.command(
    help="Fold just these documents again from the log, in one transaction.\n\n"
    "An id of which neither the log nor the view knows anything fails the command (exit 1)."
    f"\n\n{_reads(DATABASE)}"
)
def refold(
    view: str = typer.Argument(..., metavar="VIEW", help="The view: account or customer."),
    ids: list[str] = typer.Option(
        ..., "--id", metavar="ID", help="Document id to fold again (repeatable)."
    ),
) -> None:
    from app.cli.rebuild import UnknownIds, run_refold
    from consumers.projections import by_name

    settings = _settings()
    try:
        projection = by_name(view)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    try:
        _run(run_refold(settings, projection, ids, _cli_actor()))
    except UnknownIds as exc:
        _fail(str(exc))


@cli.command(
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

    # A person watches this terminal: readable lines, warnings and up.
    configure_logging("console", "WARNING")
    _run(run_dev(port, env_file))


dead_letters = typer.Typer(help="Records that could not be decoded: list and redrive them.")
cli.add_typer(dead_letters, name="dead-letters")


@dead_letters.command(
    "list",
    help="Show dead letters: where each record sat, how often it failed and why.\n\n"
    + _reads(DATABASE),
)
def dead_letters_list(
    status: str = typer.Option(
        "pending", metavar="STATUS", help="pending, redriven, discarded or all."
    ),
    limit: int = typer.Option(100, min=1, metavar="N", help="At most this many, oldest first."),
) -> None:
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


@dead_letters.command(
    "redrive",
    help="Decode the stored records again and fold those that now decode, once.\n\n"
    + _reads(f"{DATABASE} and KAFKA_GROUP_ID"),
)
def dead_letters_redrive(
    ids: list[str] = typer.Argument(
        None, metavar="ID", help="Letters to redrive (default: every pending one)."
    ),
) -> None:
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
            db,
            settings.kafka_group_id,
            _cli_actor(),
            publish=settings.publish_topic is not None,
            log_audit=False,
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
            ops = Operations(db, settings.kafka_group_id, _cli_actor(), log_audit=False)
            letter = await ops.discard(letter_id, reason)
        except NotDiscardable as exc:
            _fail(str(exc))
    typer.echo(f"{letter['_id']}  discarded by {letter['discardedBy']}: {reason}")


@cli.command(
    help="Print a topic's records as JSON lines (key, partition, offset, event): watch a chain."
    f"\n\n{_reads('KAFKA_BOOTSTRAP_SERVERS and STARTUP_TIMEOUT_SECONDS')}"
)
def tail(
    topic: str = typer.Argument(
        ..., metavar="TOPIC", help="The topic to read, e.g. PUBLISH_TOPIC's."
    ),
    from_beginning: bool = typer.Option(True, help="Start at the oldest record, else the newest."),
    count: int = typer.Option(
        0, min=0, metavar="N", help="Stop after this many records (0: follow)."
    ),
    idle: float = typer.Option(
        0.0, min=0, metavar="SECONDS", help="Stop after this many seconds with nothing new."
    ),
) -> None:
    settings = _settings()
    _run(_tail(settings, topic, from_beginning, count, idle))


async def _tail(
    settings: Settings, topic: str, from_beginning: bool, count: int, idle: float
) -> None:
    from app.cli.tail import records

    async for line in records(
        settings.kafka_bootstrap_servers,
        topic,
        from_beginning=from_beginning,
        count=count,
        idle=idle,
        startup_timeout=settings.startup_timeout_seconds,
    ):
        typer.echo(line)


@cli.command(
    help="Run one demo owner service (its SQLite store, outbox and relay to Kafka).\n\n"
    + _reads(
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


@cli.command(
    "schema",
    help="Print the GraphQL schema (SDL), as committed in schema.graphql: the file frontends "
    "generate types from.\n\nReads no settings.",
)
def print_sdl() -> None:
    from schema import sdl

    typer.echo(sdl(), nl=False)


def main() -> None:
    try:
        cli()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
