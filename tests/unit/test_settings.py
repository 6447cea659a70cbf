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
