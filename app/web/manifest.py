"""The web app's trusted-documents manifest, generated from the page's own source.

`static/operations.js` holds every document the page sends; node imports it (no DOM there) and
prints them, so the manifest lists exactly the bytes the browser will send. `factview
trusted-documents` writes the file; `--check` (and a unit test) says whether it is current.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, parse

from app.documents import FORMAT, digest

OPERATIONS_JS = Path(__file__).parent / "static" / "operations.js"
MANIFEST = Path(__file__).parent / "trusted-documents.json"

_PRINT = "import(process.argv[1]).then((m) => console.log(JSON.stringify(Object.values(m))))"


class ManifestSourceError(RuntimeError):
    """The page's documents could not be read (node missing, or the module failed)."""


def page_documents(source: Path = OPERATIONS_JS) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise ManifestSourceError("node is needed to read the web app's documents")
    done = subprocess.run(
        [node, "--input-type=module", "-e", _PRINT, source.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise ManifestSourceError(f"node could not import {source}: {done.stderr.strip()}")
    documents: list[str] = json.loads(done.stdout)
    return documents


def manifest(documents: list[str]) -> dict[str, Any]:
    operations = []
    for body in sorted(set(documents), key=digest):
        definition = next(
            d for d in parse(body).definitions if isinstance(d, OperationDefinitionNode)
        )
        operations.append(
            {
                "id": digest(body),
                "name": definition.name.value if definition.name else None,
                "type": definition.operation.value,
                "body": body,
            }
        )
    return {"format": FORMAT, "version": 1, "operations": operations}


def render(documents: list[str]) -> str:
    return json.dumps(manifest(documents), indent=2) + "\n"
