"""`factview serve` (the API, and the consumers unless told not to) and `factview consume`."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from app.cli.command import EVERY_SETTING, fail, load_settings, reads, run
from app.settings import Settings

commands = typer.Typer()


@commands.command(
    help=f"Run the GraphQL API and the consumers in one process.\n\n{reads(EVERY_SETTING)}"
)
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="HTTP port."),
    consume: bool | None = typer.Option(
        None, "--consume/--no-consume", help="Run the consumers too (default: the CONSUME setting)."
    ),
) -> None:
    """Run the GraphQL API and, unless told not to, the consumers in one process."""
    settings = load_settings()
    run(_serve(settings, host, port, settings.consume if consume is None else consume))


async def _serve(settings: Settings, host: str, port: int, consume: bool) -> None:
    import uvicorn

    from app.http.asgi import create_app
    from app.http.probes import metrics_app
    from app.runtime import Runtime
    from consumers.projections import PROJECTIONS

    runtime = await Runtime.start(settings, PROJECTIONS, consume=consume)
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


@commands.command(
    help="Run the consumers alone (no API).\n\n"
    + reads("the KAFKA_*, MONGODB_*, LOG_* settings and STARTUP_TIMEOUT_SECONDS")
)
def consume() -> None:
    settings = load_settings()
    run(_consume(settings))


async def _consume(settings: Settings) -> None:
    from app.runtime import Runtime
    from consumers.projections import PROJECTIONS

    runtime = await Runtime.start(settings, PROJECTIONS, consume=True, serve=False)
    # Started with consume=True: the mode is a value, so the type cannot say it.
    assert runtime.consumers is not None
    task = runtime.consumers.task
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stopping.set)
    try:
        await asyncio.wait(
            [task, asyncio.create_task(runtime.stopping.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        await runtime.stop()
    if task.done() and not task.cancelled():
        exc = task.exception()
        if exc is not None:
            fail(f"consumer stopped: {type(exc).__name__}: {exc}")
