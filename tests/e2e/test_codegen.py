"""A frontend generates its types from schema.graphql: GraphQL Code Generator (npm, pinned in
tests/e2e/frontend) over the SDL and the web app's own operations, extracted from the page's
source as the trusted-documents manifest is (app/web/manifest.py). An operation that no longer
matches the schema fails here, in CI, not in a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from graphql import (
    DefinitionNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    parse,
    print_ast,
)

from app.web.manifest import OPERATIONS_JS, page_documents

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "frontend"
STATIC = ROOT / "app" / "web" / "static"


def extract() -> dict[str, DefinitionNode]:
    """Each operation and fragment the page sends, once, by name: a fragment that several
    documents carry must be the same everywhere."""
    found: dict[str, DefinitionNode] = {}
    for document in page_documents():
        for node in parse(document).definitions:
            assert isinstance(node, OperationDefinitionNode | FragmentDefinitionNode)
            assert node.name is not None, f"an anonymous operation in {OPERATIONS_JS.name}"
            name = node.name.value
            if isinstance(node, OperationDefinitionNode):
                assert name not in found, f"two operations are named {name}"
            elif name in found:
                assert print_ast(found[name]) == print_ast(node), f"two fragments {name}"
            found[name] = node
    return found


def write(definitions: dict[str, DefinitionNode], directory: Path) -> Path:
    directory.mkdir()
    for name, node in definitions.items():
        (directory / f"{name}.graphql").write_text(print_ast(node) + "\n")
    return directory


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


def test_only_operations_js_writes_graphql() -> None:
    # Every document the page sends is in operations.js, so codegen below sees all of them
    # (and the trusted-documents manifest lists them).
    inline = re.compile(r"`\s*(query|mutation|subscription|fragment)\b|`\s*\{")
    for script in STATIC.glob("*.js"):
        if script != OPERATIONS_JS:
            assert not inline.search(script.read_text()), f"{script.name} holds GraphQL"


def test_codegen_types_the_web_app_s_operations(tmp_path: Path) -> None:
    definitions = extract()
    assert {"Customers", "Customer", "Deposit", "Withdraw", "AccountFields"} <= set(definitions)
    out = tmp_path / "graphql.ts"
    result = codegen(write(definitions, tmp_path / "operations"), out)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = out.read_text()
    for name, node in definitions.items():
        kind = getattr(node, "operation", None)
        suffix = kind.value.capitalize() if kind is not None else "Fragment"
        assert f"export type {name}{suffix} = " in generated, name
    # Money stays a decimal string in the client's types.
    assert "amount: string" in generated


def _add_field(node: DefinitionNode) -> DefinitionNode:
    return parse(print_ast(node).replace("  balance\n", "  balance\n  overdraft\n", 1)).definitions[
        0
    ]


def _retype_amount(node: DefinitionNode) -> DefinitionNode:
    return parse(print_ast(node).replace("$amount: Decimal!", "$amount: String!")).definitions[0]


def test_an_operation_that_no_longer_matches_the_schema_fails(tmp_path: Path) -> None:
    # Two drifts at once (one codegen run): a field the schema lacks, a variable of a wrong type.
    definitions = extract()
    for name, change in (("AccountFields", _add_field), ("Deposit", _retype_amount)):
        changed = change(definitions[name])
        assert print_ast(changed) != print_ast(definitions[name])
        definitions[name] = changed
    result = codegen(write(definitions, tmp_path / "operations"), tmp_path / "graphql.ts")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "GraphQL Document Validation failed" in output
    assert 'Cannot query field "overdraft" on type "Account"' in output
    assert 'of type "String!" used in position expecting type "Decimal!"' in output
