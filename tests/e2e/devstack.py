"""`factview dev` as a subprocess, with its printed banner readable by tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from app.embedded import free_port

FACTVIEW = str(Path(sys.executable).parent / "factview")


class DevStack:
    def __init__(self, process: subprocess.Popen[str], port: int, env_file: Path) -> None:
        self.process = process
        self.port = port
        # The stack's settings for other factview commands (`--env-file`): run them in its folder.
        self.env_file = env_file
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)  # poll the output reader; bounded by the deadline
        raise AssertionError(f"{pattern!r} not printed; output so far:\n{''.join(self.lines)}")


@contextlib.contextmanager
def running_dev_stack() -> Iterator[DevStack]:
    """`factview dev` on a free port; Ctrl-C (SIGINT) at the end, as a person would stop it.

    Its `.env.dev` goes to a folder of its own, never the repository's (where other tests'
    commands would read it). Its output is a pipe, as in CI: no terminal width to wrap at.
    """
    port = free_port()
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    with tempfile.TemporaryDirectory(prefix="factview-e2e-") as folder:
        env_file = Path(folder) / ".env.dev"
        process = subprocess.Popen(
            [FACTVIEW, "dev", "--port", str(port), "--env-file", str(env_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            yield DevStack(process, port, env_file)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
