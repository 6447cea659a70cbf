"""A frontend generates its types from schema.graphql: GraphQL Code Generator (npm, pinned in
tests/e2e/frontend) over the SDL and the web app's own operations. An operation that no longer
matches the schema fails here, in CI, not in a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import DefinitionNode, parse

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "frontend"
OPERATIONS = ROOT / "app" / "web" / "static" / "operations"
STATIC = ROOT / "app" / "web" / "static"


def codegen(documents: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run graphql-codegen as a frontend would: typed operations, money and times as strings."""
    binary = TOOLS / "node_modules" / ".bin" / "graphql-codegen"
    assert shutil.which("node") is not None, "node is missing: `make test` installs it with npm"
    assert binary.exists(), "run `make test` (npm ci in tests/e2e/frontend)"
    config = {
        "schema": str(ROOT / "schema.graphql"),
        "documents": [str(documents / "*.graphql")],
        "generates": {
            str(out): {
                "plugins": ["typescript", "typescript-operations"],
                "config": {
                    # A scalar without a mapping fails instead of becoming `any`.
                    "strictScalars": True,
                    "scalars": {"Decimal": "string", "DateTime": "string", "JSON": "unknown"},
                },
            }
        },
    }
    config_file = out.parent / "codegen.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [str(binary), "--config", str(config_file)],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=120,
    )


def definitions() -> dict[str, list[DefinitionNode]]:
    return {f.stem: list(parse(f.read_text()).definitions) for f in OPERATIONS.glob("*.graphql")}


def test_each_operation_file_holds_one_definition_named_after_it() -> None:
    # graphql.js loads `Name.graphql` for operation Name and for each `...Name` it spreads.
    found = definitions()
    assert {"Customers", "Customer", "Deposit", "Withdraw", "AccountFields"} <= set(found)
    for stem, nodes in found.items():
        assert [getattr(n.name, "value", None) for n in nodes] == [stem], stem


def test_the_page_writes_no_graphql_inline() -> None:
    # Every document the page sends is a file here, so codegen below sees all of them.
    inline = re.compile(r"`\s*(query|mutation|subscription|fragment)\b|`\s*\{")
    for script in STATIC.glob("*.js"):
        assert not inline.search(script.read_text()), f"{script.name} holds a GraphQL document"


def test_codegen_types_the_web_app_s_operations(tmp_path: Path) -> None:
    out = tmp_path / "graphql.ts"
    result = codegen(OPERATIONS, out)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = out.read_text()
    for stem, nodes in definitions().items():
        kind = getattr(nodes[0], "operation", None)
        suffix = kind.value.capitalize() if kind is not None else "Fragment"
        assert f"export type {stem}{suffix} = " in generated, stem
    # Money stays a decimal string in the client's types.
    assert "amount: string" in generated


@pytest.mark.parametrize(
    ("file", "line", "broken", "error"),
    [
        ("AccountFields", "  balance\n", "  balance\n  overdraft\n", 'field "overdraft"'),
        ("Deposit", "$amount: Decimal!", "$amount: String!", 'expecting type "Decimal!"'),
    ],
)
def test_an_operation_that_no_longer_matches_the_schema_fails(
    tmp_path: Path, file: str, line: str, broken: str, error: str
) -> None:
    documents = tmp_path / "operations"
    shutil.copytree(OPERATIONS, documents)
    target = documents / f"{file}.graphql"
    assert line in target.read_text()
    target.write_text(target.read_text().replace(line, broken, 1))
    result = codegen(documents, tmp_path / "graphql.ts")
    assert result.returncode != 0
    assert "GraphQL Document Validation failed" in result.stdout + result.stderr
    assert error in result.stdout + result.stderr
