"""`factview dead-letters list|redrive|discard`: the records that could not be decoded."""

from __future__ import annotations

import typer

from app.cli.command import DATABASE, cli_actor, fail, load_settings, reads, run
from app.settings import Settings
from app.store import connected
from consumers.projections import PROJECTIONS

commands = typer.Typer(help="Records that could not be decoded: list and redrive them.")


@commands.command(
    "list",
    help="Show dead letters: where each record sat, how often it failed and why.\n\n"
    + reads(DATABASE),
)
def dead_letters_list(
    status: str = typer.Option(
        "pending", metavar="STATUS", help="pending, redriven, discarded or all."
    ),
    limit: int = typer.Option(100, min=1, metavar="N", help="At most this many, oldest first."),
) -> None:
    from consumers.dead_letters import STATUSES

    if status != "all" and status not in STATUSES:
        fail(f"unknown status {status!r} (known: {', '.join(STATUSES)}, all)")
    settings = load_settings()
    run(_dead_letters_list(settings, None if status == "all" else status, limit))


async def _dead_letters_list(settings: Settings, status: str | None, limit: int) -> None:
    from consumers.dead_letters import list_letters

    async with connected(settings) as db:
        letters = await list_letters(db, status, limit)
    for letter in letters:
        typer.echo(
            f"{letter['_id']}  {letter['status']}  attempts={letter['attempts']}  "
            f"lastSeen={letter['lastSeen']:%Y-%m-%dT%H:%M:%SZ}  {letter['reason']}"
        )
    typer.echo(f"{len(letters)} dead letter(s)", err=True)


@commands.command(
    "redrive",
    help="Decode the stored records again and fold those that now decode, once.\n\n"
    + reads(f"{DATABASE} and KAFKA_GROUP_ID"),
)
def dead_letters_redrive(
    ids: list[str] = typer.Argument(
        None, metavar="ID", help="Letters to redrive (default: every pending one)."
    ),
) -> None:
    settings = load_settings()
    run(_dead_letters_redrive(settings, ids or None))


async def _dead_letters_redrive(settings: Settings, ids: list[str] | None) -> None:
    from app.operations import Operations

    async with connected(settings) as db:
        ops = Operations(
            db,
            PROJECTIONS,
            settings.kafka_group_id,
            cli_actor(),
            publish=settings.publish_topic is not None,
            log_audit=False,
        )
        outcome = await ops.redrive(ids)
    for letter_id, reason in outcome.still_failing.items():
        typer.echo(f"{letter_id}  still failing: {reason}", err=True)
    typer.echo(f"redriven: {len(outcome.redriven)}, still failing: {len(outcome.still_failing)}")


@commands.command("discard")
def dead_letters_discard(
    letter_id: str = typer.Argument(..., help="The letter to discard."),
    reason: str = typer.Option(..., help="Why (kept with the letter, with who discarded it)."),
) -> None:
    """Mark a pending letter discarded: kept, never redriven."""
    if not reason.strip():
        fail("--reason must say why")
    settings = load_settings()
    run(_dead_letters_discard(settings, letter_id, reason.strip()))


async def _dead_letters_discard(settings: Settings, letter_id: str, reason: str) -> None:
    from app.operations import Operations
    from consumers.dead_letters import NotDiscardable

    async with connected(settings) as db:
        try:
            ops = Operations(db, PROJECTIONS, settings.kafka_group_id, cli_actor(), log_audit=False)
            letter = await ops.discard(letter_id, reason)
        except NotDiscardable as exc:
            fail(str(exc))
    typer.echo(f"{letter['_id']}  discarded by {letter['discardedBy']}: {reason}")
