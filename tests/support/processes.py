"""factview as a real process for fault tests: started, SIGKILLed and started again, its output
appended to one log file kept for the whole test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

FACTVIEW = str(Path(sys.executable).with_name("factview"))


def factview_env(
    kafka_bootstrap: str, topics: list[str], mongo_uri: str, database: str, **settings: str
) -> dict[str, str]:
    """The environment a factview process reads its settings from, on the session servers."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # JSON, as the comma form of KAFKA_TOPICS does not parse (pydantic-settings decodes first)
        "KAFKA_TOPICS": json.dumps(topics),
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        **settings,
    }


class FactviewProcess:
    """One `factview ARGS` process at a time; each start is a new life of the same command."""

    def __init__(
        self, env: dict[str, str], log: Path, cwd: Path, args: Sequence[str] = ("consume",)
    ) -> None:
        self.args, self.env, self.log, self.cwd = list(args), env, log, cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    def start(self, app: str | None = None) -> None:
        """A new life; `app` names it to MongoDB, for fail points and currentOp."""
        env = self.env
        if app is not None:
            env = {**env, "MONGODB_URI": f"{env['MONGODB_URI']}&appName={app}"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [FACTVIEW, *self.args], env=env, cwd=self.cwd, stdout=out, stderr=out
            )
        self.pids.append(self.process.pid)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode
