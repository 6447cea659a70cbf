"""schema.graphql, the SDL frontends generate types from, is the schema the code serves."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from schema import build_schema, sdl
from schema.extensions import Limits

COMMITTED = Path(__file__).resolve().parents[2] / "schema.graphql"
HOW = "the schema changed: run `.venv/bin/factview schema > schema.graphql` and commit it"


def test_the_committed_sdl_is_the_code_s_schema() -> None:
    assert COMMITTED.read_text() == sdl(), HOW


def test_the_served_schema_prints_the_same_sdl() -> None:
    # Limits and masking are extensions: they change no type, whatever the settings.
    for limits in (Limits(), Limits(introspection=True, mask_errors=False)):
        assert print_schema(build_schema(limits)) + "\n" == sdl()
