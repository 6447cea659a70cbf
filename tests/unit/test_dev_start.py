"""`make run` again right after Ctrl-C: the port check, the Makefile's PORT, the env file."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.dev import check_port, env_file_text, remove_env_file, write_env_file
from app.embedded import EmbeddedServerError
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _leave_time_wait() -> int:
    """A port whose server closed a connection first, as a stopped uvicorn leaves it."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn listens
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = int(listener.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server side closes first: its end waits in TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()
    return port


def test_a_port_left_in_time_wait_is_free_to_start_on() -> None:
    port = _leave_time_wait()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the check did without SO_REUSEADDR
    check_port(port)


def test_a_port_someone_listens_on_is_refused_with_the_way_out() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedServerError, match=r"in use; pass --port \(make run PORT="):
            check_port(port)


def test_make_run_passes_port() -> None:
    plan = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-o", ".venv/graphiql-assets/.complete",
         "run", "PORT=8123"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert ".venv/bin/factview dev --port 8123" in plan.stdout


def test_the_env_file_holds_the_stack_and_is_removed_only_if_still_ours(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap_servers="127.0.0.1:1111",
        mongodb_uri="mongodb://127.0.0.1:2222/?directConnection=true",
        auth_jwt_secret=SecretStr("s" * 32),
    )
    path = tmp_path / ".env.dev"
    written = write_env_file(path, settings, "http://127.0.0.1:8000")
    assert path.stat().st_mode & 0o077 == 0  # holds the token secret: owner-only
    # What a command run from that folder reads: the stack's servers, over the defaults.
    read = Settings(_env_file=path)  # type: ignore[call-arg]
    assert read.kafka_bootstrap_servers == "127.0.0.1:1111"
    assert read.mongodb_uri == "mongodb://127.0.0.1:2222/?directConnection=true"
    assert read.auth_jwt_secret == settings.auth_jwt_secret
    # Another stack wrote its own since: leave that one alone.
    path.write_text(env_file_text(settings, "http://127.0.0.1:9000"))
    remove_env_file(path, written)
    assert path.exists()
    remove_env_file(path, path.read_text())
    assert not path.exists()


def test_settings_read_the_dev_env_file_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MONGODB_URI='mongodb://from-dot-env/'\n")
    (tmp_path / ".env.dev").write_text("MONGODB_URI='mongodb://from-dev/'\n")
    assert Settings().mongodb_uri == "mongodb://from-dev/"
    monkeypatch.setenv("MONGODB_URI", "mongodb://from-environment/")
    assert Settings().mongodb_uri == "mongodb://from-environment/"
