"""The one settings object: read from the environment (and .env, .env.dev) once, at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AuthSettings(BaseSettings):
    """How bearer tokens are verified: factview and the demo owners read the same settings,
    so an owner checks a forwarded token by exactly the rules factview applied."""

    # `.env.dev` is written by a running `factview dev` (and removed when it stops), so commands
    # run beside it reach its servers; it wins over `.env`, the environment wins over both.
    model_config = SettingsConfigDict(env_file=(".env", ".env.dev"), extra="ignore")

    # Authentication (CONTRACT §5): exactly one key source, checked when serving (consumers
    # and rebuilds need none); the secret has no default.
    auth_jwks_url: str | None = None
    auth_jwt_secret: SecretStr | None = None
    auth_audience: str = "factview"
    auth_issuer: str = "factview"
    auth_leeway_seconds: int = Field(default=30, ge=0, le=30)
    # An unknown kid forces a JWKS refetch at most once per cooldown: made-up kids cannot
    # hammer the identity provider, and a rotated key is accepted within one cooldown.
    auth_jwks_refetch_cooldown_seconds: float = Field(default=30, ge=1, le=3600)
    # A token may live at most this long (exp - iat, or exp - now without iat): a leaked
    # token with a far-away exp would otherwise be a password that never changes.
    auth_max_token_lifetime_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)

    @field_validator("auth_jwt_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (HS256 key strength)")
        return value


class Settings(AuthSettings):
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_group_id: str = "factview"
    # NoDecode: the validator below reads both `a,b` and a JSON list.
    kafka_topics: Annotated[list[str], NoDecode] = Field(
        default=["customers.facts", "accounts.facts"]
    )
    kafka_max_batch: int = Field(default=500, ge=1, le=100_000)
    # How long the broker may hold a fetch waiting for records: the floor of every event's
    # latency when traffic is light (aiokafka's default of 500 ms alone misses a 250 ms goal).
    kafka_fetch_max_wait_ms: int = Field(default=50, ge=0, le=60_000)
    # How soon the group gives up on a silent (killed) consumer and hands its partitions on;
    # 6 s is the lowest Apache Kafka accepts by default (group.min.session.timeout.ms).
    kafka_session_timeout_ms: int = Field(default=6_000, ge=1_000, le=300_000)
    # Unset: a third of the session timeout (Kafka's rule of thumb).
    kafka_heartbeat_interval_ms: int | None = Field(default=None, ge=100, le=60_000)
    # Static membership (KIP-345): a stable id per replica (e.g. a StatefulSet pod name).
    kafka_group_instance_id: str | None = None
    # `factview serve` runs the consumers too; false: an API replica only (scale them apart).
    consume: bool = True

    # factview as an upstream (consumers/outbox.py, consumers/relay.py): the topic its composed
    # views are published to (off when unset), the CloudEvents `source` naming this deployment, and
    # the lease that lets one relay of many publish at a time.
    publish_topic: str | None = Field(default=None, min_length=1)
    publish_source: str = Field(default="factview", min_length=1)
    publish_lease_seconds: float = Field(default=10.0, ge=1, le=300)
    publish_batch: int = Field(default=500, ge=1, le=10_000)

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
    # Per caller (token subject), per process: one token must not hold the server's sockets.
    max_connections_per_subject: int = Field(default=10, ge=1, le=10_000)
    max_subscriptions_per_subject: int = Field(default=50, ge=1, le=100_000)

    # Abuse limits (GraphQL Armor's defaults) and what a public endpoint hides.
    max_query_depth: int = Field(default=6, ge=1)
    max_aliases: int = Field(default=15, ge=0)
    max_tokens: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    operation_timeout_seconds: float = Field(default=10.0, gt=0)
    # All request headers together (an oversized Authorization is refused before any parsing).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Trusted documents: only operations listed in the manifest run (by hash or by full text).
    trusted_documents: bool = False
    trusted_documents_manifest: Path = (
        Path(__file__).parent / "http" / "web" / "trusted-documents.json"
    )
    introspection: bool = False
    mask_errors: bool = True

    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    graphiql: bool = False
    # Prometheus /metrics: on its own port (METRICS_HOST:METRICS_PORT) when set, so the public
    # port does not show business volumes; unset, it stays on the API port.
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    metrics_host: str = "127.0.0.1"
    # Serve the accounts web page at /app (app/http/web/).
    web_app: bool = False
    # How long start-up waits for the broker and the database before giving up.
    startup_timeout_seconds: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Settings:
        beat = self.kafka_heartbeat_interval_ms
        if beat is not None and beat * 3 > self.kafka_session_timeout_ms:
            raise ValueError(
                "KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of KAFKA_SESSION_TIMEOUT_MS"
            )
        return self

    @field_validator("kafka_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        # Allow the plain `KAFKA_TOPICS=a,b` form as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("kafka_topics")
    @classmethod
    def _topics_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("KAFKA_TOPICS must name at least one topic")
        return value
