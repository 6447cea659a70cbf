"""What frontends build from: `factview schema` (the SDL) and `factview trusted-documents`."""

from __future__ import annotations

import typer

from app.cli.command import fail

commands = typer.Typer()


@commands.command(
    "schema",
    help="Print the GraphQL schema (SDL), as committed in schema.graphql: the file frontends "
    "generate types from.\n\nReads no settings.",
)
def print_sdl() -> None:
    from schema import sdl

    typer.echo(sdl(), nl=False)


@commands.command(
    "trusted-documents",
    help="Write the web app's trusted-documents manifest from its source (needs node)."
    "\n\nReads no settings.",
)
def trusted_documents(
    check: bool = typer.Option(False, "--check", help="Only say whether the file is current."),
) -> None:
    from app.http.web.manifest import MANIFEST, ManifestSourceError, page_documents, render

    try:
        text = render(page_documents())
    except ManifestSourceError as exc:
        fail(str(exc))
    if check:
        if not MANIFEST.is_file() or MANIFEST.read_text() != text:
            fail(f"{MANIFEST} is out of date: run `factview trusted-documents`")
        typer.echo(f"{MANIFEST} is current")
        return
    MANIFEST.write_text(text)
    typer.echo(f"wrote {MANIFEST}")
