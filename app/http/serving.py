"""Run an ASGI app under uvicorn inside the current event loop (dev stack and tests)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


class ServerFailed(RuntimeError):
    """uvicorn exited before it was serving (port taken, lifespan failure)."""


@dataclass
class RunningServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (requests finish, lifespan shutdown runs); forced after timeout."""
        self.server.should_exit = True
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            self.server.force_exit = True
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_server(app: ASGIApp, host: str, port: int, timeout: float = 30.0) -> RunningServer:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # Signals belong to whoever runs the loop (the CLI), not to each embedded server.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + timeout
    while not server.started:
        if task.done():
            raise ServerFailed(
                f"server on {host}:{port} did not start (port in use or start-up failed)"
            )
        if asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            raise ServerFailed(f"server on {host}:{port} did not start within {timeout:.0f}s")
        await asyncio.sleep(0.02)  # polling uvicorn's started flag; it offers no event
    return RunningServer(server, task, host, port)
