"""Run an ASGI app under uvicorn inside the current event loop (tests, `factview dev`)."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from starlette.types import ASGIApp

_STARTUP_POLL = 0.01


async def serve(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, timeout: float = 20.0
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Start `app` and return once it accepts connections (its lifespan startup has run)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn:{host}:{port}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # uvicorn offers no "started" event to await, only the flag; poll it against a deadline.
    while not server.started:
        if task.done():
            task.result()  # re-raise why it stopped
            raise RuntimeError(f"uvicorn on {host}:{port} exited during startup")
        if loop.time() > deadline:
            await stop(server, task)
            raise TimeoutError(f"uvicorn on {host}:{port} did not start within {timeout:.0f}s")
        await asyncio.sleep(_STARTUP_POLL)
    return server, task


async def stop(server: uvicorn.Server, task: asyncio.Task[None], timeout: float = 10.0) -> None:
    """Graceful shutdown (open requests finish, lifespan shutdown runs); forced after `timeout`."""
    server.should_exit = True
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        server.force_exit = True
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
