"""Settings of a demo owner service, read from the environment once at start."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OwnerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kafka_bootstrap_servers: str = "localhost:9092"
    # Each owner keeps its own SQLite file: the row and its outbox fact commit together there.
    owner_database_path: str = Field(default="owner.sqlite3", min_length=1)
    owner_topic: str | None = None
