"""Settings of a demo owner service, read from the environment once at start."""

from __future__ import annotations

from pydantic import Field

from app.settings import AuthSettings


class OwnerSettings(AuthSettings):
    """The AUTH_* settings are factview's own (same class): an owner verifies the token factview
    forwards by the same rules, with the same key source, audience and issuer."""

    kafka_bootstrap_servers: str = "localhost:9092"
    # Each owner keeps its own SQLite file: the row and its outbox fact commit together there.
    owner_database_path: str = Field(default="owner.sqlite3", min_length=1)
    owner_topic: str | None = None
