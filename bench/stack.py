"""The benchmarks' servers: Tansu and SecantusDB on free ports, factview subprocesses on them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.devstack.embedded import ServerProcess, free_port, mongodb_uri, start_secantus, start_tansu
from app.devstack.topics import ensure_topics
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-only-secret-at-least-32-characters!"
JWT_AUDIENCE = "factview"


def staff_authorization() -> str:
    """`Bearer <HS256 staff token>` for the bench's servers (ignored where auth is not on)."""
    import jwt

    now = int(time.time())
    claims = {"sub": "bench", "role": "staff", "aud": JWT_AUDIENCE, "iss": JWT_AUDIENCE}
    token = jwt.encode({**claims, "iat": now, "exp": now + 86_400}, JWT_SECRET, "HS256")
    return f"Bearer {token}"


@dataclass
class Stack:
    """One Tansu broker and one SecantusDB server, and a factview configuration on them."""

    kafka: ServerProcess
    mongo: ServerProcess
    unique: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka.port}"

    @property
    def mongo_uri(self) -> str:
        return mongodb_uri(self.mongo.port)

    @property
    def database(self) -> str:
        return f"bench_{self.unique}"

    @property
    def topics(self) -> list[str]:
        return [f"customers.facts.{self.unique}", f"accounts.facts.{self.unique}"]

    def topic_for(self, source: str) -> str:
        return self.topics[0] if source == "customers" else self.topics[1]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_topics": self.topics,
            "kafka_group_id": f"factview-{self.unique}",
            "mongodb_uri": self.mongo_uri,
            "mongodb_database": self.database,
            "startup_timeout_seconds": 20,
            "auth_jwt_secret": JWT_SECRET,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a factview subprocess on these servers."""
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            KAFKA_TOPICS=json.dumps(self.topics),
            KAFKA_GROUP_ID=f"factview-{self.unique}",
            MONGODB_URI=self.mongo_uri,
            MONGODB_DATABASE=self.database,
            STARTUP_TIMEOUT_SECONDS="20",
            AUTH_JWT_SECRET=JWT_SECRET,
            AUTH_AUDIENCE=JWT_AUDIENCE,
            AUTH_ISSUER=JWT_AUDIENCE,
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    async def ensure_topics(self, partitions: int = 3) -> None:
        await ensure_topics(self.bootstrap, self.topics, partitions)


@contextlib.contextmanager
def servers() -> Iterator[Stack]:
    """Fresh Tansu and SecantusDB on free loopback ports, stopped on any exit."""
    log_dir = Path(tempfile.mkdtemp(prefix="factview-bench-"))
    kafka = start_tansu(log_dir=log_dir)
    try:
        mongo = start_secantus(log_dir=log_dir)
        try:
            yield Stack(kafka, mongo)
        finally:
            mongo.stop()
    finally:
        kafka.stop()


@dataclass
class Child:
    """A benchmarked process (uvicorn, `factview consume`) with its output kept in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15.0, interrupt: bool = False) -> None:
        """SIGTERM; or SIGINT, which a profiler survives (uvicorn re-raises the signal it got,
        and only a KeyboardInterrupt lets pyinstrument write its report)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if interrupt else signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def spawn(name: str, argv: Sequence[str], env: dict[str, str], port: int | None = None) -> Child:
    log_path = Path(tempfile.gettempdir()) / f"factview-bench-{name}-{os.getpid()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    return Child(name, process, log_path, port)


def spawn_uvicorn(
    name: str, factory: str, env: dict[str, str], profile: str | None = None
) -> Child:
    """`python -m uvicorn --factory` on a free port; the same flags for every served app.

    With `profile`, the server runs under pyinstrument, which writes its text report there
    when the server exits.
    """
    port = free_port()
    wrapper = ["-m", "pyinstrument", "-i", "0.005", "--no-color", "-o", profile] if profile else []
    argv = [
        sys.executable,
        *wrapper,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return spawn(name, argv, env, port)


async def wait_http(child: Child, path: str = "/healthz", timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=child.url, timeout=2) as http:
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(path)).status_code == 200:
                    return
            await _sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer within {timeout:.0f}s:\n{child.tail()}")


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)  # polling a starting server, bounded by a deadline


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, read from /proc: now and peak."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)
