"""The owners' SQLite store: one short-lived connection per call, run off the event loop."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# How long a writer waits for another writer's lock before giving up (seconds).
_BUSY_TIMEOUT = 10.0


class Database:
    """A SQLite file shared by the HTTP handlers and the relay.

    Every method blocks: callers on the event loop run them via `asyncio.to_thread`.
    A connection per call keeps threads from sharing one (sqlite3 objects are not thread-safe).
    """

    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        self._schema = schema

    def connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so each write is exactly one transaction.
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def initialize(self) -> None:
        conn = self.connect()
        try:
            # WAL lets the relay read the outbox while a handler writes.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(self._schema)
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so the
        checks a handler makes (balance, idempotency key) still hold when it writes."""
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()
