"""Idempotency keys: a retried write replays its first response instead of writing twice.

The key is stored in the same transaction as the write it names, so "key seen" and "write done"
can never disagree. Only successful writes are stored: a refused request changed nothing, so
retrying it under the same key is allowed to succeed later.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from upstream.validation import OwnerError, invalid

IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
"""

HEADER = "Idempotency-Key"
_MAX_KEY_LENGTH = 255


def check_key(key: str | None) -> str | None:
    if key is not None and not (0 < len(key) <= _MAX_KEY_LENGTH):
        raise invalid(f"{HEADER} must be 1 to {_MAX_KEY_LENGTH} characters")
    return key


def fingerprint(method: str, path: str, body: dict[str, Any] | None) -> str:
    """What makes two requests "the same": method, path and the body's JSON value.

    The JSON value, not its bytes: a retry that re-serializes the body still matches.
    """
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(conn: sqlite3.Connection, key: str, request: str) -> tuple[int, dict[str, Any]] | None:
    """The stored response for `key`, or None if the key is new.

    Refuses a key that was used for a different request.
    """
    row = conn.execute(
        "SELECT fingerprint, status, response FROM idempotency_keys WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    if row["fingerprint"] != request:
        raise OwnerError(
            422,
            "idempotency_key_reused",
            # Not the key itself: as stored it is scoped to its caller (upstream/authorization.py).
            f"this {HEADER} was already used for a different request",
        )
    response: dict[str, Any] = json.loads(row["response"])
    return int(row["status"]), response


def remember(
    conn: sqlite3.Connection, key: str, request: str, status: int, response: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, status, response, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (key, request, status, json.dumps(response), datetime.now(UTC).isoformat()),
    )
