"""`make mutation`: mutmut over the ingest core, with one broker and one database for the run.

Each mutant is a short pytest session; starting SecantusDB and Tansu for each of about two
thousand would cost more than the tests. The session fixtures (tests/conftest.py) use these
servers instead when the environment names them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from app.devstack.embedded import mongodb_uri, start_secantus, start_tansu
from tests.conftest import EXTERNAL_KAFKA, EXTERNAL_MONGODB

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = Path(sys.executable).with_name("mutmut")


def scores() -> str:
    """Per module: mutants killed (timeouts count as killed, as mutmut's score does), survived,
    without a test that reaches them, not yet checked; and the score over those checked."""
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if ".x" in name:
            module = name[: name.index(".x")]
            counts[module]["killed" if status == "timeout" else status] += 1
    rows = [
        "| module | killed | survived | no tests | not checked | score |",
        "|---|---|---|---|---|---|",
    ]
    for module, c in sorted(counts.items()):
        checked = c["killed"] + c["survived"] + c["no tests"]
        score = f"{100 * c['killed'] / checked:.0f}%" if checked else "-"
        rows.append(
            f"| {module} | {c['killed']} | {c['survived']} | {c['no tests']} "
            f"| {c['not checked']} | {score} |"
        )
    return "\n".join(rows)


def main() -> int:
    if sys.argv[1:] == ["--scores"]:
        print(scores())
        return 0
    # `--resume` continues a run that was stopped: mutmut keeps each verdict in mutants/.
    # Other arguments name the mutants to run, as mutmut takes them ("consumers.log*").
    args = sys.argv[1:]
    if "--resume" in args:
        args.remove("--resume")
    else:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    kafka = start_tansu()
    databases = [start_secantus() for _ in range(int(os.environ.get("MUTMUT_DATABASES", "2")))]
    env = {
        **os.environ,
        EXTERNAL_KAFKA: f"127.0.0.1:{kafka.port}",
        EXTERNAL_MONGODB: " ".join(mongodb_uri(mongo.port) for mongo in databases),
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "mutation"),
    }
    # Most of a broker test's time is spent waiting (group joins, retries), not computing.
    children = os.environ.get("MUTMUT_CHILDREN", "4")
    try:
        run = subprocess.run(
            [str(MUTMUT), "run", "--max-children", children, *args], cwd=ROOT, env=env, check=False
        )
    finally:
        kafka.stop()
        for mongo in databases:
            mongo.stop()
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=ROOT, check=True)
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    print(json.dumps(stats, indent=2))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
