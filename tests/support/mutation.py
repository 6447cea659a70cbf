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
from pathlib import Path

from app.devstack.embedded import mongodb_uri, start_secantus, start_tansu
from tests.conftest import EXTERNAL_KAFKA, EXTERNAL_MONGODB

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = Path(sys.executable).with_name("mutmut")


def main() -> int:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    kafka, mongo = start_tansu(), start_secantus()
    env = {
        **os.environ,
        EXTERNAL_KAFKA: f"127.0.0.1:{kafka.port}",
        EXTERNAL_MONGODB: mongodb_uri(mongo.port),
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "dev"),
    }
    children = os.environ.get("MUTMUT_CHILDREN", "2")
    try:
        run = subprocess.run(
            [str(MUTMUT), "run", "--max-children", children], cwd=ROOT, env=env, check=False
        )
    finally:
        kafka.stop()
        mongo.stop()
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=ROOT, check=True)
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    print(json.dumps(stats, indent=2))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
