"""Structured logs: JSON lines in production, readable lines in dev; stdlib loggers too."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["json", "console"]


def configure_logging(fmt: LogFormat = "json", level: str = "INFO") -> None:
    """Route structlog and the stdlib (uvicorn, aiokafka, pymongo) through one renderer."""
    shared: list[structlog.types.Processor] = [
        # Request and event ids bound with bind_contextvars ride along on every line.
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = True
    if not any(isinstance(f, AccessLine) for f in access.filters):
        access.addFilter(AccessLine())


class AccessLine(logging.Filter):
    """uvicorn's access line as fields, with query strings reduced to their parameter names
    (GraphiQL URLs carry tokens in `?headers=`; a GET operation carries its variables)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.msg, record.args = "http request", ()
            record.client, record.method, record.status = client, method, status
            record.path, record.http_version = redacted(str(path)), version
        return True


def redacted(path: str) -> str:
    """`/graphql?query=…&headers=…` → `/graphql?query&headers`: the values never reach a log."""
    base, sep, query = path.partition("?")
    if not sep:
        return base
    names = [part.partition("=")[0] for part in query.split("&") if part]
    return f"{base}?{'&'.join(names)}"
