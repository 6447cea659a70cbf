"""The one settings object: read from the environment (and .env) once, at start."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_group_id: str = "factview"
    kafka_topics: list[str] = Field(default=["customers.facts", "accounts.facts"])
    kafka_max_batch: int = Field(default=500, ge=1, le=100_000)

    mongodb_uri: str = "mongodb://localhost:27017/?replicaSet=rs0"
    mongodb_database: str = "factview"

    customers_owner_url: str = "http://localhost:8001"
    accounts_owner_url: str = "http://localhost:8002"

    graphiql: bool = False
    # How long start-up waits for the broker and the database before giving up.
    startup_timeout_seconds: float = Field(default=20.0, gt=0)

    @field_validator("kafka_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        # Allow the plain `KAFKA_TOPICS=a,b` form as well as a JSON list.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("kafka_topics")
    @classmethod
    def _topics_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("KAFKA_TOPICS must name at least one topic")
        return value
