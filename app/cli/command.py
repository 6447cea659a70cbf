"""What every `factview` command shares: its settings, its one-line failure, its event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from os import PathLike
from typing import Any, NoReturn

import typer
import uvloop
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from app.auth import AuthNotConfigured
from app.logs import configure_logging
from app.settings import Settings
from app.store import StoreUnavailable
from consumers.runner import BrokerUnavailable

EVERY_SETTING = "every setting (the table in README.md: KAFKA_*, MONGODB_*, AUTH_*, OWNER_*, …)"
DATABASE = "MONGODB_URI, MONGODB_DATABASE and STARTUP_TIMEOUT_SECONDS"

# Failures a person can act on: one line, exit 1, no traceback.
EXPECTED: tuple[type[BaseException], ...] = (
    AuthNotConfigured,
    StoreUnavailable,
    BrokerUnavailable,
    OSError,
)


def reads(what: str, settings: type[BaseSettings] = Settings) -> str:
    """The help paragraph naming where a command's settings come from."""
    files = settings.model_config.get("env_file") or ()
    names = [str(files)] if isinstance(files, str | PathLike) else [str(f) for f in files]
    return (
        f"Reads {what} from the environment, else from {' and '.join(names)} "
        "in the working directory."
    )


def load_settings() -> Settings:
    try:
        settings = Settings()
        configure_logging(settings.log_format, settings.log_level)
        return settings
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"bad setting {name}: {message}" if name else f"bad settings: {message}")


def fail(message: str) -> NoReturn:
    typer.echo(f"factview: {message}", err=True)
    raise typer.Exit(1)


def run(coro: Coroutine[Any, Any, None], expected: tuple[type[BaseException], ...] = ()) -> None:
    """Run a command's work; an expected failure (EXPECTED, or the command's own) is one line."""
    try:
        # uvloop: a faster event loop for every command (uvicorn's own default when it runs one).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    except (*EXPECTED, *expected) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def cli_actor() -> str:
    """Who acts, for the audit fields of an operation run from the command line."""
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"
