"""The `factview` command: one module per group of commands, put together here."""

from __future__ import annotations

import sys
from importlib.metadata import version

import typer
import typer.core

from app.cli import dead_letters, demo, frontend, rebuild, serve, tail


def _value_placeholder(
    param: typer.core.TyperArgument | typer.core.TyperOption, ctx: object
) -> str | None:
    """What help shows after an option: its metavar (`--port PORT`), nothing for a flag or an
    argument (the argument's name says it). typer labels each with its Python type
    (`<list[str]>`, `<bool>`) and has no switch for that, so the label is replaced here."""
    if isinstance(param, typer.core.TyperOption) and not param.is_flag:
        return param.metavar or (param.name or "value").upper()
    return None


typer.core.TyperArgument.display_type_rich = _value_placeholder  # type: ignore[assignment,method-assign]
typer.core.TyperOption.display_type_rich = _value_placeholder  # type: ignore[assignment,method-assign]

cli = typer.Typer(
    help="factview: a GraphQL read service folded from Fact Events.",
    no_args_is_help=True,
)
# Without a name, a module's commands join the top level (`factview serve`, not a group).
for commands in (serve, rebuild, demo, tail, frontend):
    cli.add_typer(commands.commands)
cli.add_typer(dead_letters.commands, name="dead-letters")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"factview {version('factview')}")
        raise typer.Exit()


@cli.callback()
def main_options(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_show_version,
    ),
) -> None:
    pass


def main() -> None:
    try:
        cli()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
