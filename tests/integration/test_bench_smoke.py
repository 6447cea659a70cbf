"""Each benchmark, run with tiny sizes on the session servers: they keep working. No timings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.devstack.embedded import ServerProcess
from bench import freshness, history, ingest, memory, query, rebuild, scale
from bench.report import Result, report
from bench.stack import ROOT, Stack

SCRIPTS = ["ingest", "query", "rebuild", "freshness", "memory", "scale"]


@pytest.fixture
def stack(kafka_server: ServerProcess, mongo_server: ServerProcess) -> Stack:
    return Stack(kafka_server, mongo_server)


def reported(result: Result, capsys: pytest.CaptureFixture[str]) -> None:
    report(result)
    out = capsys.readouterr().out
    assert f"== bench {result.name} ==" in out
    assert "ratio" in out and "machine" in out and "date" in out
    assert result.figure > 0 and result.baseline > 0


async def test_ingest(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    reported(await ingest.measure(stack, events=120, batch=50, accounts=6), capsys)


async def test_ingest_flat(
    kafka_server: ServerProcess, mongo_server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each size on its own topics and database, as on its own servers from the command line.
    runs = [
        await ingest.measure(Stack(kafka_server, mongo_server), events=60, batch=50, accounts=n)
        for n in (6, 2)
    ]
    flat = ingest.flat(runs)
    # Fewest accounts over most, whatever order the sizes were given in.
    assert (flat.figure, flat.baseline) == (runs[1].figure, runs[0].figure)
    reported(flat, capsys)


async def test_ingest_history(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    folded, page = await history.measure(
        stack, rows=300, events=40, batch=20, rounds=2, preload_batch=100, page_requests=1
    )
    # The long account holds its preload and two rounds of new rows; the small one SMALL rows.
    counts = folded.details["rows at the end"]
    assert f"a0000001 {history.SMALL}" in counts, counts
    reported(folded, capsys)
    reported(page, capsys)


async def test_query(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    opts = query.Options(customers=3, transactions=3, clients=4, seconds=0.5, warmup=0.2)
    reported(await query.measure(stack, opts), capsys)


async def test_rebuild(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    reported(await rebuild.measure(stack, events=150, accounts=6), capsys)


async def test_freshness(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = await freshness.measure(stack, subscribers=2, rate=40, seconds=1)
    assert result.details["events never seen by a subscriber"] == 0
    reported(result, capsys)


async def test_memory(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    result = await memory.measure(
        stack, events=150, accounts=6, warmup=0.2, interval=0.2, timeout=60
    )
    reported(result, capsys)


async def test_scale(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # Throughput only: the kill and restart pause is seconds long by design (bench/ only).
    result = await scale.measure(stack, events=60, accounts=6, most=2, kills=0, rate=0, settle=0)
    assert set(result.details) >= {"events/s with 1 consumer(s)", "events/s with 2 consumer(s)"}
    reported(result, capsys)


@pytest.mark.parametrize("script", SCRIPTS)
def test_command_line(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--json" in done.stdout
