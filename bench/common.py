"""What every benchmark shares: real servers, a synthetic fact stream, machine facts, the report.

Every figure is printed with a baseline measured in the same run, on the same servers, with
the same data, and their ratio: on a shared 2-core machine only the ratio means much.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from app.devstack.embedded import ServerProcess, free_port, mongodb_uri, start_secantus, start_tansu
from app.devstack.topics import ensure_topics
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STRUCTURED = [("content-type", b"application/cloudevents+json")]
JWT_SECRET = "bench-only-secret-at-least-32-characters!"
JWT_AUDIENCE = "factview"


def staff_authorization() -> str:
    """`Bearer <HS256 staff token>` for the bench's servers (ignored where auth is not on)."""
    import jwt

    now = int(time.time())
    claims = {"sub": "bench", "role": "staff", "aud": JWT_AUDIENCE, "iss": JWT_AUDIENCE}
    token = jwt.encode({**claims, "iat": now, "exp": now + 86_400}, JWT_SECRET, "HS256")
    return f"Bearer {token}"


# --- servers -------------------------------------------------------------------------------


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


# --- subprocesses --------------------------------------------------------------------------


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


# --- the fact stream -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fact:
    """One structured-mode CloudEvent as a Kafka record, ready to produce."""

    source: str
    key: bytes
    value: bytes


def cloud_event(
    source: str, type_: str, subject: str, data: dict[str, Any], seq: int, event_id: str = ""
) -> Fact:
    moment = BASE_TIME + dt.timedelta(milliseconds=seq)
    event = {
        "specversion": "1.0",
        "id": event_id or f"{source[0]}{seq}",
        "source": source,
        "type": type_,
        "subject": subject,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "data": data,
    }
    return Fact(source, subject.encode(), orjson.dumps(event))


def customer_id(n: int) -> str:
    return f"c{n:07d}"


def account_id(n: int) -> str:
    return f"a{n:07d}"


def default_accounts(events: int) -> int:
    # About 25 events per account: documents of a realistic size, not one ever-growing list.
    return max(2, events // 25)


def deposit(account: str, seq: int, amount: str) -> Fact:
    data = {"accountId": account, "transactionId": f"t{seq}", "amount": amount, "currency": "EUR"}
    return cloud_event("accounts", "account.deposited", account, data, seq)


def facts(
    events: int, accounts: int | None = None, seed: int = 7, window: int | None = None
) -> Iterator[Fact]:
    """Exactly `events` facts: customers registered, accounts opened, then money moving.

    Two accounts per customer; times increase (no late events); about one movement in ten
    is a withdrawal and one in fifty a correction. Generated lazily, so a million is cheap.
    Movements go to any account, or with `window`, to one of `window` accounts sliding
    across all of them: then every stretch of the stream looks alike (stationary work).
    """
    accounts = accounts or default_accounts(events)
    customers = max(1, accounts // 2)
    rng = random.Random(seed)
    seq = 0
    for c in range(customers):
        if seq >= events:
            return
        cid = customer_id(c)
        data = {"customerId": cid, "name": f"Customer {c}", "email": f"{cid}@example.com"}
        yield cloud_event("customers", "customer.registered", cid, data, seq)
        seq += 1
    for a in range(accounts):
        if seq >= events:
            return
        aid = account_id(a)
        data = {"accountId": aid, "customerId": customer_id(a % customers), "currency": "EUR"}
        yield cloud_event("accounts", "account.opened", aid, data, seq)
        seq += 1
    last: dict[str, str] = {}
    first_movement, movements = seq, max(1, events - seq)
    while seq < events:
        if window is None or window >= accounts:
            aid = account_id(rng.randrange(accounts))
        else:
            base = (seq - first_movement) * (accounts - window) // movements
            aid = account_id(base + rng.randrange(window))
        yield movement(rng, aid, seq, last)
        seq += 1


def movement(rng: random.Random, aid: str, seq: int, last: dict[str, str]) -> Fact:
    """A deposit (88 %), a withdrawal (10 %) or a correction of the account's last one (2 %).

    `last` (account -> its newest transactionId) is kept up to date for the next call.
    """
    roll = rng.random()
    amount = f"{rng.randrange(100, 100_000) / 100:.2f}"
    if roll < 0.98 or aid not in last:
        last[aid] = f"t{seq}"
        if roll < 0.88:
            return deposit(aid, seq, amount)
        data = {"accountId": aid, "transactionId": f"t{seq}", "amount": amount}
        data["currency"] = "EUR"
        return cloud_event("accounts", "account.withdrawn", aid, data, seq)
    data = {"accountId": aid, "transactionId": last[aid], "amount": amount}
    return cloud_event("accounts", "account.transaction-corrected", aid, data, seq)


async def produce(
    stack: Stack, stream: Iterable[Fact], chunk: int = 2000, keep: bool = True
) -> list[tuple[Fact, str, int, int]]:
    """Produce every fact (pipelined); returns (fact, topic, partition, offset) if `keep`."""
    placed: list[tuple[Fact, str, int, int]] = []
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending: list[tuple[Fact, str, Any]] = []

        async def drain() -> None:
            for fact, topic, future in pending:
                meta = await future
                if keep:
                    placed.append((fact, topic, meta.partition, meta.offset))
            pending.clear()

        for fact in stream:
            topic = stack.topic_for(fact.source)
            future = await producer.send(topic, fact.value, key=fact.key, headers=STRUCTURED)
            pending.append((fact, topic, future))
            if len(pending) >= chunk:
                await drain()
        await drain()
    finally:
        await producer.stop()
    return placed


# --- numbers and the report ----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": _commit(),
        "command": " ".join([".venv/bin/python -m", _module(), *sys.argv[1:]]),
    }


def _module() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    strays = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("app", "consumers", "schema")
        and not str(getattr(module, "__file__", None) or ROOT).startswith(str(ROOT))
    )
    if strays:  # an export missing a module falls back to the editable install's tree
        return f"MIXED: {', '.join(strays)} loaded from outside {ROOT}"
    if os.environ.get("FACTVIEW_BENCH_CODE"):
        return os.environ["FACTVIEW_BENCH_CODE"]  # e.g. a `git archive` export of a commit
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "app", "consumers", "schema")
    return f"{head}{' + uncommitted changes' if dirty else ''}"


@dataclass
class Result:
    """One benchmark's outcome: the figure, its baseline, their ratio and the goal."""

    name: str
    figure: float
    baseline: float
    unit: str
    goal: str
    met: bool | None
    ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ratio is None:
            self.ratio = self.figure / self.baseline if self.baseline else 0.0


def report(result: Result, json_path: str | None = None) -> None:
    info = machine()
    verdict = "n/a" if result.met is None else ("met" if result.met else "MISSED")
    print(f"\n== bench {result.name} ==")
    print(f"date     {info['date']}")
    print(f"machine  {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    print(f"code     {info['commit']}")
    print(f"command  {info['command']}")
    print(f"factview {result.figure:,.1f} {result.unit}")
    print(f"baseline {result.baseline:,.1f} {result.unit}")
    print(f"ratio    {result.ratio:.2f}  (goal {result.goal}: {verdict})")
    for name, value in result.details.items():
        print(f"  {name}: {value}")
    for note in result.notes:
        print(f"note: {note}")
    if json_path:
        record = {**info, **{k: v for k, v in vars(result).items()}}
        with open(json_path, "a") as out:
            out.write(json.dumps(record, default=str) + "\n")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="also append the result as a JSON line here")
    return p


def since(start: float) -> float:
    return time.perf_counter() - start


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """Profile the block with pyinstrument into `path` (text), when asked; else do nothing.

    pyinstrument is a profiling aid, not a dependency: `pip install pyinstrument` to use it.
    """
    if not path:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"profile written to {path}")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decoded(stack: Stack, stream: Iterable[Fact]) -> Iterator[Any]:
    """The facts as the consumer decodes them (offsets numbered as if on one partition)."""
    from consumers.decoding import RawRecord, decode

    headers = tuple(STRUCTURED)
    for offset, fact in enumerate(stream):
        topic = stack.topic_for(fact.source)
        yield decode(RawRecord(topic, 0, offset, fact.key, fact.value, headers))


async def seed(stack: Stack, stream: Iterable[Fact], batch: int = 2000) -> int:
    """Fold facts straight into the log and views with the real FoldEngine (no broker)."""
    from app.store import database, ensure_indexes, make_client
    from consumers.engine import FoldEngine
    from consumers.projections import PROJECTIONS

    client = make_client(stack.mongo_uri)
    count = 0
    try:
        db = database(client, stack.database)
        await ensure_indexes(db)
        await record_versions(db)
        engine = FoldEngine(db, PROJECTIONS)
        pending: list[Any] = []
        for event in decoded(stack, stream):
            pending.append(event)
            if len(pending) >= batch:
                await engine.apply(pending)
                count += len(pending)
                pending = []
        if pending:
            await engine.apply(pending)
            count += len(pending)
    finally:
        await client.close()
    return count


async def record_versions(db: Any) -> None:
    """What a factview start does on an empty database: mark the views as this code's.

    Without it a server started on the seeded views would find them unversioned and rebuild
    them in the background while being measured.
    """
    try:
        from consumers.rebuild import versions
    except ImportError:  # code from before projection versions
        return
    from consumers.projections import PROJECTIONS

    for projection in PROJECTIONS:
        await versions.record(db, projection, PROJECTIONS, rebuilt=False)
