"""The `factview` command's own surface: version, help texts and the printed schema."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    [],
    ["serve"],
    ["consume"],
    ["rebuild"],
    ["refold"],
    ["dev"],
    ["owner"],
    ["schema"],
    ["tail"],
    ["trusted-documents"],
    ["dead-letters"],
    ["dead-letters", "list"],
    ["dead-letters", "redrive"],
]
# Where each command's settings come from, as its help must say.
READS = {
    "serve": "every setting",
    "consume": "the KAFKA_*, MONGODB_*, LOG_* settings",
    "rebuild": "MONGODB_URI, MONGODB_DATABASE",
    "refold": "MONGODB_URI, MONGODB_DATABASE",
    "owner": "KAFKA_BOOTSTRAP_SERVERS, OWNER_DATABASE_PATH, OWNER_TOPIC and the AUTH_* settings",
    "tail": "KAFKA_BOOTSTRAP_SERVERS and STARTUP_TIMEOUT_SECONDS",
    "dead-letters list": "MONGODB_URI, MONGODB_DATABASE",
    "dead-letters redrive": "MONGODB_URI, MONGODB_DATABASE and STARTUP_TIMEOUT_SECONDS and "
    "KAFKA_GROUP_ID",
}

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})


def help_of(command: list[str]) -> str:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # one line: rich wraps and boxes paragraphs


def test_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"factview {version('factview')}\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "factview")
def test_help_speaks_without_python_type_names(command: list[str]) -> None:
    text = help_of(command)
    assert not re.search(r"<\w+(\[[\w, ]+\])?( range)?>", text), text  # <list[str]>, <int>, <bool>
    assert "list[" not in text, text


@pytest.mark.parametrize("command", list(READS))
def test_help_names_the_settings_and_env_file_a_command_reads(command: str) -> None:
    text = help_of(command.split())
    assert f"Reads {READS[command]}" in text, text
    assert "from the environment, else from .env" in text, text


@pytest.mark.parametrize("command", ["dev", "schema", "trusted-documents"])
def test_help_says_when_a_command_reads_no_settings(command: str) -> None:
    assert "Reads no settings" in help_of([command])


def test_options_show_a_placeholder_not_a_type() -> None:
    text = help_of(["rebuild"])
    assert "--lock-seconds SECONDS" in text, text
    assert "--chunk N" in text, text


def test_schema_prints_the_committed_sdl() -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.output == (ROOT / "schema.graphql").read_text()
