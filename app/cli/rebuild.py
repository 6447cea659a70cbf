"""`factview rebuild` and `factview refold`, with a progress bar for a person watching."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from app.cli.command import DATABASE, cli_actor, fail, load_settings, reads, run
from app.settings import Settings
from app.store import connected, ensure_indexes
from consumers.projection import Projection
from consumers.projections import PROJECTIONS
from consumers.rebuild.fence import ViewLock
from consumers.rebuild.shadow import RebuildResult, rebuild

commands = typer.Typer()


@commands.command(
    "rebuild",
    help="Rebuild views from the local event log while consumers keep running, then swap."
    f"\n\n{reads(DATABASE)}",
)
def rebuild_command(
    views: list[str] = typer.Argument(
        None, metavar="VIEW", help="Views to rebuild: account, customer (default: all)."
    ),
    lock_seconds: float = typer.Option(
        30.0, metavar="SECONDS", help="Expiry of the rebuild lock if we die."
    ),
    chunk: int = typer.Option(
        500, metavar="N", help="Documents written to the shadow per round trip."
    ),
) -> None:
    from consumers.projections import by_name
    from consumers.rebuild.fence import LockHeld

    settings = load_settings()
    try:
        chosen = [by_name(v) for v in views] if views else list(PROJECTIONS)
    except KeyError as exc:
        fail(str(exc.args[0]))
    try:
        # A view that embeds a rebuilt one is rebuilt after it, so it embeds the new fold.
        run(run_rebuild(settings, with_dependents(chosen), lock_seconds, chunk))
    except LockHeld as exc:
        fail(str(exc))


@commands.command(
    help="Fold just these documents again from the log, in one transaction.\n\n"
    "An id of which neither the log nor the view knows anything fails the command (exit 1)."
    f"\n\n{reads(DATABASE)}"
)
def refold(
    view: str = typer.Argument(..., metavar="VIEW", help="The view: account or customer."),
    ids: list[str] = typer.Option(
        ..., "--id", metavar="ID", help="Document id to fold again (repeatable)."
    ),
) -> None:
    from consumers.projections import by_name

    settings = load_settings()
    try:
        projection = by_name(view)
    except KeyError as exc:
        fail(str(exc.args[0]))
    try:
        run(run_refold(settings, projection, ids, cli_actor()))
    except UnknownIds as exc:
        fail(str(exc))


class RateColumn(ProgressColumn):
    """Items per second, as rich measures it over the recent past."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "-/s", style="progress.data.speed")


class RichObserver:
    """Shows each phase of a rebuild as the bar's description, with its own total."""

    def __init__(self, progress: Progress, view: str) -> None:
        self.progress = progress
        self.view = view
        # Added at the first phase, so a refused run (lock held) prints only its one line.
        self.task: TaskID | None = None

    async def phase(self, name: str, total: int | None) -> None:
        description = f"{self.view}: {name}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=total)
        else:
            self.progress.reset(self.task, total=total, description=description)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)


def with_dependents(chosen: list[type[Projection]]) -> list[type[Projection]]:
    """Add the views that embed a chosen one (Customer embeds accounts), in registry order."""
    names = {p.name for p in chosen}
    for projection in PROJECTIONS:
        if projection.join is not None and projection.join.view in names:
            names.add(projection.name)
    return [p for p in PROJECTIONS if p.name in names]


def _summary(result: RebuildResult) -> str:
    return (
        f"rebuilt {result.view}: {result.documents} documents from {result.events} events "
        f"(+{result.caught_up} caught up while running), checksum {result.checksum[:12]}, "
        f"swapped in {result.seconds:.1f}s"
    )


async def run_rebuild(
    settings: Settings, views: list[type[Projection]], lock_seconds: float, chunk: int
) -> None:
    # soft_wrap: a summary line stays one line in a log or a pipe (rich wraps at 80 there).
    console = Console(stderr=True, soft_wrap=True)
    async with connected(settings) as db:
        await ensure_indexes(db)
        # Refuse before drawing anything, so a refusal is the one line `_fail` prints.
        for projection in views:
            await ViewLock.ensure_free(db, projection.collection)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
        )
        # Transient: the bars are for watching; the summary lines below are what stays.
        with Progress(*columns, console=console, transient=True) as progress:
            for projection in views:
                observer = RichObserver(progress, projection.name)
                result = await rebuild(
                    db,
                    projection,
                    PROJECTIONS,
                    observer=observer,
                    lock_ttl=lock_seconds,
                    chunk=chunk,
                )
                if observer.task is not None:
                    progress.update(
                        observer.task,
                        description=f"{projection.name}: done",
                        total=result.events,
                        completed=result.events,
                    )
                progress.console.print(_summary(result))


class UnknownIds(Exception):
    """Ids a command was asked about that nothing is known of."""


async def run_refold(
    settings: Settings, projection: type[Projection], ids: list[str], actor: str
) -> None:
    """Refold each id; UnknownIds (after the others are done) for ids neither the log nor the
    view knows: most likely a typo, which "document removed" would hide."""
    from app.operations import Operations

    async with connected(settings) as db:
        stored = set(await db[projection.collection].distinct("_id", {"_id": {"$in": ids}}))
        ops = Operations(db, PROJECTIONS, settings.kafka_group_id, actor, log_audit=False)
        states = await ops.refold(projection, ids)
    unknown = [key for key, folded in states.items() if folded is None and key not in stored]
    for key, folded in states.items():
        if folded is not None:
            typer.echo(f"{projection.name} {key}: refolded, version {folded[0].get('version', 0)}")
        elif key in stored:
            typer.echo(f"{projection.name} {key}: no events in the log; document removed")
    if unknown:
        raise UnknownIds(
            f"nothing is known about {projection.name} {', '.join(unknown)}: "
            f"no events in the log and no document in {projection.collection}"
        )
