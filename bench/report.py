"""What every benchmark reports: its figure, a baseline measured in the same run, and the machine.

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
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stack import ROOT


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
