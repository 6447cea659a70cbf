"""The production image leaves the dev stack out, and what it runs never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = "app/devstack"

# What `factview serve` and `factview consume` import on their way (app/cli/serve.py).
SERVE_PATHS = ("app.cli.serve", "app.runtime", "app.http.asgi", "app.http.probes", "uvicorn")


def test_the_entry_point_and_the_serve_and_consume_paths_do_not_import_the_dev_stack() -> None:
    script = f"""
import sys
from importlib import import_module
from importlib.metadata import entry_points

(factview,) = entry_points(group="console_scripts", name="factview")
assert factview.value == "app.cli.main:main", factview.value
factview.load()
for name in {SERVE_PATHS!r}:
    import_module(name)
devstack = [m for m in sys.modules if m == "app.devstack" or m.startswith("app.devstack.")]
print(",".join(sorted(devstack)))
"""
    # A fresh interpreter: this test process has imported the dev stack for other tests.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at start: {done.stdout.strip()}"


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_image_build_leaves_the_dev_stack_out() -> None:
    patterns = dockerignore()
    assert DEVSTACK in patterns or f"{DEVSTACK}/" in patterns, patterns
    # A later `!` pattern would bring it back into the build context.
    assert not [p for p in patterns if p.startswith("!") and p[1:].startswith(DEVSTACK)], patterns
    # The image copies app/ whole, so the ignore file is what keeps the dev stack out.
    copied = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert "app" in copied, copied
    assert (ROOT / DEVSTACK).is_dir()  # the name above is the dev stack's real folder
