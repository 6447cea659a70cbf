"""Settings from the environment: both list forms, and bad values named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings


@pytest.mark.parametrize("raw", ["a.facts, b.facts", '["a.facts", "b.facts"]'])
def test_kafka_topics_take_a_comma_list_or_json(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPICS", raw)
    assert Settings(_env_file=None).kafka_topics == ["a.facts", "b.facts"]  # type: ignore[call-arg]


def test_no_topics_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPICS", " , ")
    with pytest.raises(ValidationError, match="at least one topic"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_jwt_secret_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "k" * 40)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "k" * 40 not in repr(settings)


def test_group_timing_and_api_only_replicas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUME", "false")
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "9000")
    monkeypatch.setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "3000")
    monkeypatch.setenv("KAFKA_GROUP_INSTANCE_ID", "consumer-0")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.consume is False
    assert (settings.kafka_session_timeout_ms, settings.kafka_heartbeat_interval_ms) == (9000, 3000)
    assert settings.kafka_group_instance_id == "consumer-0"


def test_a_heartbeat_too_slow_for_the_session_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("KAFKA_HEARTBEAT_INTERVAL_MS", "2500")
    with pytest.raises(ValidationError, match="at most a third of KAFKA_SESSION_TIMEOUT_MS"):
        Settings(_env_file=None)  # type: ignore[call-arg]
