"""The README's examples, run as written against a fresh `factview dev` (what `make run` starts).

The examples are read from README.md itself, so the page and the stack cannot drift apart:
- every ```console block: each `$ command` runs (in the folder of the stack's `.env.dev`, as in a
  second terminal) and prints the lines under it (checksums and timings vary by run);
- every ```graphql block followed by a ```json block: the query answers exactly that data;
- the ```sh block with `curl`: runs in bash with the printed staff token and the stack's port.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.devstack import FACTVIEW, DevStack, running_dev_stack

README = Path(__file__).resolve().parents[2] / "README.md"
DEADLINE = 60.0  # seconds for the seeded facts to be folded on a busy machine
T = TypeVar("T")


def blocks() -> list[tuple[str, str]]:
    """README.md's fenced blocks, as (language, text), in page order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", README.read_text(), re.S | re.M)


def console_examples() -> list[tuple[str, list[str]]]:
    examples: list[tuple[str, list[str]]] = []
    for language, text in blocks():
        if language != "console":
            continue
        for line in text.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:].split("  #")[0].strip(), []))
            elif line.strip():
                examples[-1][1].append(line)
    return examples


def graphql_examples() -> list[tuple[str, Any]]:
    found = blocks()
    return [
        (text, json.loads(found[i + 1][1]))
        for i, (language, text) in enumerate(found[:-1])
        if language == "graphql" and found[i + 1][0] == "json"
    ]


def curl_examples() -> list[str]:
    return [text for language, text in blocks() if language == "sh" and "curl " in text]


def test_the_readme_has_the_examples_this_test_runs() -> None:
    commands = [command for command, _ in console_examples()]
    assert any(c.startswith(".venv/bin/factview rebuild") for c in commands)
    assert any(c.startswith(".venv/bin/factview refold") for c in commands)
    assert any(c.startswith(".venv/bin/factview dead-letters") for c in commands)
    assert len(graphql_examples()) >= 1
    assert len(curl_examples()) == 1


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    with running_dev_stack() as dev:
        dev.wait_for(r"Ctrl-C stops everything")
        yield dev


def eventually(probe: Callable[[], T], until: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + DEADLINE
    result = probe()
    while not until(result):
        assert time.monotonic() < deadline, f"not reached; last: {result!r}"
        time.sleep(0.2)  # poll interval, bounded by the deadline
        result = probe()
    return result


def _vary(line: str) -> str:
    # What differs from run to run: checksums (API-created ids) and timings.
    line = re.sub(r"checksum [0-9a-f]{12}", "checksum …", line)
    return re.sub(r"in \d+\.\d+s", "in …s", line)


def _second_terminal_env() -> dict[str, str]:
    # Nothing from this test's own environment may point the command anywhere: only .env.dev.
    settings = re.compile(r"^(KAFKA_|MONGODB_|AUTH_|CUSTOMERS_OWNER|ACCOUNTS_OWNER)")
    return {k: v for k, v in os.environ.items() if not settings.match(k)} | {"NO_COLOR": "1"}


def _run(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    done = subprocess.run(
        argv, cwd=cwd, env=_second_terminal_env(), capture_output=True, text=True, timeout=120
    )
    lines = (done.stdout + done.stderr).splitlines()
    return done.returncode, sorted(_vary(line) for line in lines if line.strip())


def test_console_examples_print_what_the_readme_shows(stack: DevStack) -> None:
    examples = console_examples()
    assert examples
    for command, shown in examples:
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/factview", command
        expected = (0, sorted(_vary(line) for line in shown))
        # The seeded facts are being folded as the stack comes up: wait until they all are.
        printed = eventually(
            functools.partial(_run, [FACTVIEW, *argv[1:]], stack.env_file.parent),
            expected.__eq__,
        )
        assert printed == expected, command


def staff_token(stack: DevStack) -> str:
    return stack.wait_for(r"staff token: (\S+)").group(1)


def test_graphql_examples_answer_what_the_readme_shows(stack: DevStack) -> None:
    token = staff_token(stack)
    for query, expected in graphql_examples():

        def ask(query: str = query) -> Any:
            return httpx.post(
                f"http://127.0.0.1:{stack.port}/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).json()

        answer = eventually(ask, lambda body, expected=expected: body.get("data") == expected)
        assert "errors" not in answer


def test_the_curl_example_runs_in_a_shell(stack: DevStack) -> None:
    (script,) = curl_examples()
    script = re.sub(r"^TOKEN=….*$", f"TOKEN={shlex.quote(staff_token(stack))}", script, flags=re.M)
    script = script.replace("localhost:8000", f"localhost:{stack.port}")

    def run() -> Any:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    body = eventually(
        run, lambda b: len(b.get("data", {}).get("customers", {}).get("nodes", [])) == 3
    )
    assert "errors" not in body
    ada = next(c for c in body["data"]["customers"]["nodes"] if c["name"] == "Ada Lovelace")
    assert sorted((a["currency"], a["balance"]) for a in ada["accounts"]) == [
        ("EUR", "14.00"),
        ("USD", "250.00"),
    ]
