"""``preopen seed``: write synthetic bars that follow the calendar into a store."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from preopen.cli._common import console, parse_date
from preopen.cli._options import ConfigOption, StoreOption, parse_count, parse_intervals

if TYPE_CHECKING:
    from collections.abc import Sequence

    from preopen.calendar import ExchangeCalendar
    from preopen.store import BarStore

__all__ = ["seed", "seed_with_progress"]


def seed_with_progress(
    store: BarStore,
    calendar: ExchangeCalendar,
    symbols: int | Sequence[str],
    sessions: Sequence[dt.date],
    intervals: Sequence[str],
    *,
    seed: int = 0,
) -> int:
    """Seed ``store`` with a progress bar on the console; return the rows written."""
    from preopen.store.synthetic import seed_store  # noqa: PLC0415 - numpy only when needed

    with Progress(
        TextColumn("[bold]seeding[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{store.url}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return seed_store(
            store, calendar, symbols, sessions, intervals, seed=seed, progress=progress
        )


def seed(
    store: StoreOption = None,
    symbols: Annotated[
        str, typer.Option("--symbols", metavar="N", help="How many symbols.")
    ] = "100",
    sessions: Annotated[
        str, typer.Option("--sessions", metavar="N", help="How many sessions.")
    ] = "5",
    intervals: Annotated[
        str,
        typer.Option(
            "--intervals", metavar="LIST", help="Comma-separated, each once: 1m,5m,15m,30m,1h,1d"
        ),
    ] = "1m,1d",
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Seed the sessions before this date (default: 2024-12-02).",
        ),
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", metavar="NAME", help="The bars table.")
    ] = None,
    random_seed: Annotated[str, typer.Option("--seed", metavar="N", help="Random seed.")] = "0",
    config: ConfigOption = None,
) -> None:
    """Write synthetic random-walk bars that follow the calendar into a store."""
    from preopen.calendar import get_calendar  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415
    from preopen.store import open_store  # noqa: PLC0415

    # Only what seeding uses: a stray PREOPEN_WINDOW_MINUTES cannot break it.
    settings = Settings.load(
        config, keys=("exchange", "store", "table", "loaders"), store=store, table=table
    )
    count = parse_count("--symbols", symbols)
    nsessions = parse_count("--sessions", sessions, high=10_000)
    wanted = parse_intervals("--intervals", intervals)
    number = parse_count("--seed", random_seed, low=0, high=2**31)
    calendar = get_calendar(settings.exchange)
    last = parse_date("--before", before) if before else dt.date(2024, 12, 2)
    days = calendar.trailing_sessions(last, nsessions)
    opened = open_store(
        settings.store, pool_size=settings.loaders, table=settings.table_or_none, create=True
    )
    try:
        started = time.perf_counter()
        rows = seed_with_progress(opened, calendar, count, days, wanted, seed=number)
        seconds = time.perf_counter() - started
    finally:
        opened.close()
    console.print(
        f"wrote {rows:,} rows: {count:,} symbols x {len(days)} sessions "
        f"({days[0]}..{days[-1]}) x {', '.join(wanted)} in {seconds:.2f} s "
        f"into {opened.url}"
    )
