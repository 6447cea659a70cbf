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
    # Calls to the owners: each phase bounded, and the whole call under one deadline.
    owner_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    owner_read_timeout_seconds: float = Field(default=5.0, gt=0)
    owner_write_timeout_seconds: float = Field(default=5.0, gt=0)
    owner_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    owner_deadline_seconds: float = Field(default=8.0, gt=0)
    # Read-your-writes: how long a mutation (or a query with a consistencyToken) waits for
    # the owner's facts to be folded before answering without them.
    fold_wait_seconds: float = Field(default=5.0, gt=0, le=60)

    # Subscriptions: updates buffered per subscriber before a slow one is dropped.
    subscription_queue_size: int = Field(default=64, ge=1, le=10_000)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1_000)
    connection_init_timeout_seconds: float = Field(default=10.0, gt=0)

    graphiql: bool = False
    # Serve the accounts web page at /app (app/web/).
    web_app: bool = False
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
