"""Bad start-up conditions end in one line naming the cause and a non-zero exit, in bounded time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.embedded import EmbeddedServerError, _spawn, free_port, start_tansu

FACTVIEW = str(Path(sys.executable).parent / "factview")


def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EmbeddedServerError, match=f"port 127.0.0.1:{port} is already in use"):
            start_tansu(port=port, log_dir=tmp_path)


def test_a_missing_binary_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="cannot run /nonexistent/tansu"):
        _spawn("tansu", ["/nonexistent/tansu"], free_port(), tmp_path, 5)


def _run(command: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={**os.environ, **env}, cwd="/"
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("command", ["serve", "consume"])
def test_unreachable_database_exits_with_one_line(command: str) -> None:
    dead = free_port()
    result, took = _run(
        [FACTVIEW, command],
        MONGODB_URI=f"mongodb://127.0.0.1:{dead}/?directConnection=true",
        STARTUP_TIMEOUT_SECONDS="2",
        AUTH_JWT_SECRET="s" * 32,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"factview: MongoDB at mongodb://127.0.0.1:{dead}/"), lines[0]
    assert "is unreachable" in lines[0]
    assert took < 20


def test_unreachable_broker_exits_with_one_line(mongo_uri: str) -> None:
    dead = free_port()
    result, took = _run(
        [FACTVIEW, "consume"],
        MONGODB_URI=mongo_uri,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead}",
        STARTUP_TIMEOUT_SECONDS="2",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"factview: Kafka at 127.0.0.1:{dead} is unreachable"
    ), result.stderr
    assert took < 20


def test_a_bad_setting_fails_fast_naming_it() -> None:
    result, _ = _run([FACTVIEW, "consume"], KAFKA_MAX_BATCH="zero")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("factview: bad setting KAFKA_MAX_BATCH:"), result.stderr


def test_serving_without_an_auth_key_source_refuses_to_start() -> None:
    result, took = _run([FACTVIEW, "serve"], STARTUP_TIMEOUT_SECONDS="30")
    assert result.returncode == 1
    assert result.stderr.strip() == "factview: set exactly one of AUTH_JWKS_URL and AUTH_JWT_SECRET"
    assert took < 10  # before trying to reach anything


def test_a_weak_secret_is_refused() -> None:
    result, _ = _run([FACTVIEW, "serve"], AUTH_JWT_SECRET="short")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "factview: bad setting AUTH_JWT_SECRET: must be at least 32"
    )


@pytest.mark.parametrize("service", ["customers", "accounts"])
def test_an_owner_without_an_auth_key_source_refuses_to_start(service: str) -> None:
    # An owner that could not verify tokens would take any write: it does not start.
    result, took = _run([FACTVIEW, "owner", service, "--port", str(free_port())])
    assert result.returncode == 1
    assert result.stderr.strip() == "factview: set exactly one of AUTH_JWKS_URL and AUTH_JWT_SECRET"
    assert took < 10
