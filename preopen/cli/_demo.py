"""``preopen demo``: the whole mission on a simulated clock, in well under a minute.

It seeds a demo store on first use, then runs the runtime on a
SimulatedClock from the evening before a session, through the prefetch in
the window, the open (activation), the close, and the next session's
prefetch and open; at the end a summary table. The default stretch starts on
the evening of 2024-11-27: Thanksgiving is skipped, 2024-11-29 closes at
13:00, and 2024-12-02 loads a trailing window that holds the early close.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated

import pendulum
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from preopen.cli._common import BadInputError, console
from preopen.cli._options import ConfigOption, StoreOption, parse_count
from preopen.cli._seed import seed_with_progress
from preopen.errors import PreopenTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.calendar import ExchangeCalendar
    from preopen.clock import SimulatedClock
    from preopen.model import SessionSnapshot
    from preopen.runtime import Runtime, RuntimeStatus
    from preopen.settings import Settings
    from preopen.store import BarStore

__all__ = ["demo", "run_demo"]

DEMO_STORE = "sqlite:///preopen-demo.db"
DEMO_FROM = "2024-11-27T18:00"
_WAIT_S = 120.0  # the longest any step of the demo may take before it fails


def _parse_from(text: str, calendar: ExchangeCalendar) -> pendulum.DateTime:
    try:
        parsed = pendulum.parse(text, tz=calendar.timezone, exact=False)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise BadInputError("--from", text, "a date or a local time, YYYY-MM-DD[THH:MM]") from None
    if not isinstance(parsed, pendulum.DateTime):
        raise BadInputError("--from", text, "a date or a local time, YYYY-MM-DD[THH:MM]")
    return parsed


def demo(
    symbols: Annotated[
        str, typer.Option("--symbols", metavar="N", help="How many symbols.")
    ] = "500",
    store: StoreOption = None,
    start: Annotated[
        str,
        typer.Option(
            "--from", metavar="DATE[THH:MM]", help="Start of the simulated stretch (local time)."
        ),
    ] = DEMO_FROM,
    sessions: Annotated[
        str, typer.Option("--sessions", metavar="N", help="Sessions to run through.")
    ] = "2",
    config: ConfigOption = None,
) -> None:
    """Run the whole mission on the embedded default with a simulated clock."""
    from preopen.calendar import get_calendar  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415

    count = parse_count("--symbols", symbols, high=100_000)
    nsessions = parse_count("--sessions", sessions, high=20)
    settings = Settings.load(config, store=store)
    if store is None and settings.store == Settings().store:
        # Neither --store, the file nor PREOPEN_STORE names another store than the default.
        settings = settings.replace(store=DEMO_STORE)
    calendar = get_calendar(settings.exchange)
    run_demo(settings, calendar, count, _parse_from(start, calendar), nsessions)


def _needed_sessions(
    calendar: ExchangeCalendar, first: dt.date, nsessions: int, trailing: int
) -> tuple[dt.date, ...]:
    """Every session whose bars some snapshot of the stretch loads."""
    last = first
    for _ in range(nsessions - 1):
        last = calendar.next_session(last)
    return calendar.trailing_sessions(last, trailing + nsessions - 1)


def _ensure_seeded(
    store: BarStore,
    calendar: ExchangeCalendar,
    names: tuple[str, ...],
    days: tuple[dt.date, ...],
    settings: Settings,
) -> None:
    """Seed the demo bars unless the store already holds them all."""
    start, end = calendar.open_at(days[0]), calendar.close_at(days[-1])
    probe = store.load([names[0], names[-1]], "1d", start, end)
    if "1d" in settings.intervals and all(len(b) == len(days) for b in probe.values()):
        console.print(
            f"demo store {store.url} already holds {len(names)} symbols x {len(days)} "
            "sessions: not seeding"
        )
        return
    seed_with_progress(store, calendar, len(names), days, settings.intervals)


def _wait_prefetch(runtime: Runtime, session: dt.date) -> RuntimeStatus:
    """Show the prefetch of ``session`` as a progress bar until it is done."""

    def done(status: RuntimeStatus) -> bool:
        return status.session == session and status.prefetch_seconds is not None

    with Progress(
        TextColumn(f"[bold]prefetch[/] {session}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("load", total=None, failed=0)
        deadline = time.monotonic() + _WAIT_S
        while True:
            status = runtime.status()
            progress = status.progress
            bar.update(
                task, completed=progress.done, total=progress.total or None, failed=progress.failed
            )
            if done(status):
                return status
            if time.monotonic() > deadline:
                raise PreopenTimeoutError(f"waiting for the prefetch of {session}", _WAIT_S)
            # Wait for the next change of the status (not a sleep: returns at once
            # when the runtime publishes progress), at most a tenth of a second.
            with contextlib.suppress(TimeoutError):
                runtime.wait_for(_changed_from(status), timeout=0.1)


def _changed_from(seen: RuntimeStatus) -> Callable[[RuntimeStatus], bool]:
    def changed(status: RuntimeStatus) -> bool:
        return status is not seen

    return changed


def _serving(session: dt.date) -> Callable[[RuntimeStatus], bool]:
    def serving(status: RuntimeStatus) -> bool:
        return status.serving == session

    return serving


def _cold_load_seconds(
    store: BarStore, calendar: ExchangeCalendar, snapshot: SessionSnapshot, settings: Settings
) -> float:
    """Time what the open would cost without preopen: loading the same bars then."""
    days = calendar.trailing_sessions(snapshot.session, settings.trailing_days)
    start, end = calendar.open_at(days[0]), calendar.close_at(days[-1])
    started = time.perf_counter()
    for interval in settings.intervals:
        store.load(list(snapshot.symbols), interval, start, end)
    return time.perf_counter() - started


def run_demo(
    settings: Settings,
    calendar: ExchangeCalendar,
    count: int,
    start: pendulum.DateTime,
    nsessions: int,
) -> None:
    """Seed if needed, run the stretch, print the story and the summary."""
    from preopen.calendar.timing import prefetch_start  # noqa: PLC0415
    from preopen.clock import SimulatedClock  # noqa: PLC0415 - the class, at run time
    from preopen.runtime import Runtime  # noqa: PLC0415
    from preopen.store import open_store  # noqa: PLC0415
    from preopen.store.synthetic import symbol_names  # noqa: PLC0415

    first: dt.date = calendar.next_open(start).date()
    names = tuple(symbol_names(count))
    days = _needed_sessions(calendar, first, nsessions, settings.trailing_days)
    store = open_store(
        settings.store, pool_size=settings.loaders, table=settings.table_or_none, create=True
    )
    try:
        _ensure_seeded(store, calendar, names, days, settings)
        settings = _demo_settings(settings, names)
        clock = SimulatedClock(start)
        console.print(
            f"[bold]simulated clock[/] starts {start.isoformat()} ({calendar.name}); "
            f"{count} symbols, intervals {', '.join(settings.intervals)}, "
            f"{settings.trailing_days} trailing sessions, window "
            f"{settings.window_minutes} min"
        )
        rows = []
        loaded_before = 0
        with Runtime.start(settings, clock=clock, store=store, calendar=calendar) as runtime:
            clock.advance(dt.timedelta(0))
            session = first
            for _ in range(nsessions):
                # Started inside the window (--from 2024-11-29T09:00), the prefetch
                # is due at once: the clock only moves forward.
                _advance_to(clock, prefetch_start(calendar, session, settings.window))
                prefetched = _wait_prefetch(runtime, session)
                loaded = prefetched.bars_loaded - loaded_before
                loaded_before = prefetched.bars_loaded
                _advance_to(clock, calendar.open_at(session))
                active = runtime.wait_for(_serving(session), timeout=_WAIT_S)
                snapshot = runtime.snapshot()
                close = snapshot.bars(snapshot.symbols[0], settings.intervals[0]).close
                console.print(
                    f"  {calendar.open_at(session).format('YYYY-MM-DD HH:mm')} open: activated "
                    f"{snapshot.session} in {_ms(active.activation_latency_s)}; host read "
                    f"{snapshot.symbols[0]} last close {close[-1]:.2f} "
                    f"({len(close)} bars) with no lock"
                )
                cold = _cold_load_seconds(store, calendar, snapshot, settings)
                _show_reuse(snapshot, prefetched, loaded, cold)
                rows.append((snapshot, prefetched, active, cold, loaded))
                _advance_to(clock, calendar.close_at(session))
                session = calendar.next_session(session)
            story = runtime.status().events
        console.print(f"[bold]what happened[/] (simulated {calendar.timezone} time):")
        for event in story:
            when = event.at.in_tz(calendar.timezone).format("ddd YYYY-MM-DD HH:mm")
            console.print(
                f"  {when}  {event.kind:<16} {event.detail}", overflow="fold"
            )
        _summary(rows)
    finally:
        store.close()


def _demo_settings(settings: Settings, names: tuple[str, ...]) -> Settings:
    """The settings the demo runs with: its symbols, and always a prefetch and an activation.

    ``enabled = false`` or ``auto_activate = false`` in a settings file would
    leave the demo waiting for a prefetch or an activation that never comes:
    the demo shows both whatever the file says, and says so.
    """
    ignored = [f"{key}=false" for key in ("enabled", "auto_activate") if not getattr(settings, key)]
    if ignored:
        console.print(
            f"demo: {' and '.join(ignored)} ignored: the demo always shows the prefetch "
            "and the activation at the open"
        )
    return settings.replace(symbols=names, enabled=True, auto_activate=True)


def _show_reuse(
    snapshot: SessionSnapshot, prefetched: RuntimeStatus, loaded: int, cold: float
) -> None:
    """Say what an incremental prefetch took from the snapshot it replaced."""
    reused = snapshot.nbars - loaded
    if reused <= 0:
        return
    seconds = prefetched.prefetch_seconds or 0.0
    console.print(
        f"  incremental prefetch: {reused:,} bars reused from the served snapshot, "
        f"{loaded:,} loaded; {seconds:.2f} s against {cold:.2f} s for a full load"
    )


def _advance_to(clock: SimulatedClock, instant: pendulum.DateTime) -> None:
    if instant > clock.now():
        clock.advance_to(instant)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f} ms"


def _summary(
    rows: list[tuple[SessionSnapshot, RuntimeStatus, RuntimeStatus, float, int]],
) -> None:
    """One column per session, one row per figure (fits an 80-column terminal)."""
    table = Table(title="preopen demo: summary")
    table.add_column("")
    for snapshot, *_ in rows:
        table.add_column(snapshot.session.isoformat(), justify="right")

    def line(name: str, values: list[str]) -> None:
        table.add_row(name, *values)

    line("symbols", [f"{len(s.symbols):,}" for s, *_ in rows])
    line("bars", [f"{s.nbars:,}" for s, *_ in rows])
    line("bytes", [f"{s.nbytes / 2**20:,.1f} MiB" for s, *_ in rows])
    line("bars loaded", [f"{loaded:,}" for *_, loaded in rows])
    line("prefetch (in the window)", [f"{p.prefetch_seconds or 0:.2f} s" for _, p, *_ in rows])
    line("activation at the open", [_ms(a.activation_latency_s) for _, _, a, *_ in rows])
    line("cold load it replaced", [f"{cold * 1e3:,.0f} ms" for *_, cold, _ in rows])
    line(
        "cold load / activation",
        [
            f"{cold / a.activation_latency_s:,.0f}x" if a.activation_latency_s else "-"
            for _, _, a, cold, _ in rows
        ],
    )
    line("validation findings", [str(len(s.report.findings())) for s, *_ in rows])
    console.print(table)
    for snapshot, *_ in rows:
        for finding in snapshot.report.findings()[:5]:
            console.print(f"  {snapshot.session}: {finding}")
