"""``preopen serve`` (the real clock until a signal) and ``preopen prefetch`` (one session now)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import select
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer
from rich.table import Table

from preopen.cli._common import console, parse_date
from preopen.cli._options import ConfigOption, parse_count, parse_symbol_list

if TYPE_CHECKING:
    from preopen.actors import Event
    from preopen.hub import SnapshotHub
    from preopen.runtime import Runtime, RuntimeStatus

__all__ = ["prefetch", "serve"]

log = logging.getLogger("preopen")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_TIMEOUT_S = 4.0  # serve must be gone within 5 s of SIGTERM
_WAIT_S = 600.0

# Repeated --store: a list of stores tried in order (the database last).
StoresOption = Annotated[
    list[str] | None,
    typer.Option("--store", help="sqlite:///file.db, postgresql://user@host:port/db or "
                 "grpc://hub:port; repeat it for a list tried in order"),
]
FlightPortOption = Annotated[
    str | None, typer.Option("--flight-port", help="Serve the frozen snapshots over Arrow "
                             "Flight on this port (0: no hub).")
]


def _stores(given: list[str] | None) -> str | tuple[str, ...] | None:
    """One --store as a string, several as a tuple, none as None (the settings decide)."""
    if not given:
        return None
    return given[0] if len(given) == 1 else tuple(given)


def _log_events(events: tuple[Event, ...], after: int) -> int:
    """Log the events newer than ``after`` as key=value lines; return the last seq."""
    for event in events:
        if event.seq > after:
            level = (
                logging.WARNING
                if event.kind in {"error", "fallback", "restart", "escalated", "refused"}
                else logging.INFO
            )
            session = event.session.isoformat() if event.session else "-"
            log.log(
                level,
                "event=%s session=%s at=%s detail=%r",
                event.kind,
                session,
                event.at.isoformat(),
                event.detail,
            )
            after = event.seq
    return after


def _status_line(status: RuntimeStatus, hub: SnapshotHub | None = None) -> str:
    p = status.progress
    line = (
        f"phase={status.phase} session={status.session} serving={status.serving} "
        f"done={p.done} total={p.total} failed={p.failed} bars={status.bars_loaded} "
        f"activations={status.activations} fallbacks={status.fallbacks} "
        f"restarts={status.restarts} shard={status.shard or 'all'}"
    )
    if status.store_served:
        line += f" store_served={status.store_served} store_fallbacks={status.store_fallbacks}"
    return f"{line} {hub.stats().line()}" if hub is not None else line


def serve(
    config: ConfigOption = None,
    store: StoresOption = None,
    flight_port: FlightPortOption = None,
    status_interval: Annotated[
        str | None, typer.Option("--status-interval", help="Seconds between status lines.")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run on the real clock until SIGINT or SIGTERM."""
    from preopen.settings import Settings  # noqa: PLC0415

    interval = (
        parse_count("--status-interval", status_interval, high=86_400) if status_interval else None
    )
    level = logging.getLevelNamesMapping().get(log_level.upper())
    if level is None:
        from preopen.cli._common import BadInputError  # noqa: PLC0415

        raise BadInputError("--log-level", log_level, "DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    port = parse_count("--flight-port", flight_port, low=0, high=65_535) if flight_port else None
    settings = Settings.load(config, store=_stores(store), flight_port=port)
    with _StopSignals() as stop, _Hosted(settings) as (runtime, hub):
        log.info("event=serving exchange=%s store=%s symbols=%s shard=%s flight_port=%s",
                 settings.exchange, runtime.store.url, len(settings.symbols) or "all",
                 settings.shard or "all", hub.port if hub is not None else "-")
        _serve_until_signal(runtime, stop, interval, hub)
        log.info("event=stopping timeout_s=%.1f", _STOP_TIMEOUT_S)
        runtime.stop(_STOP_TIMEOUT_S)
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    log.info("event=stopped threads_left=%d", len(left))


class _Hosted:
    """The runtime, and the hub serving its snapshots when ``flight_port`` is set.

    The hub reads through to the runtime's own store, so the store is opened
    here and closed after both.
    """

    def __init__(self, settings: Any) -> None:  # noqa: ANN401 - Settings, imported lazily
        self._settings = settings
        self._hub: SnapshotHub | None = None
        self._runtime: Runtime | None = None
        self._store: Any = None

    def __enter__(self) -> tuple[Runtime, SnapshotHub | None]:
        from preopen.calendar import get_calendar  # noqa: PLC0415
        from preopen.runtime import Runtime  # noqa: PLC0415
        from preopen.store import open_store  # noqa: PLC0415

        s = self._settings
        if not s.flight_port:
            self._runtime = Runtime.start(s)
            return self._runtime, None
        from preopen.hub import SnapshotHub  # noqa: PLC0415 - the arrow extra, only for a hub

        self._store = open_store(s.store, pool_size=s.loaders, table=s.table_or_none)
        try:
            hub = self._hub = SnapshotHub(
                f"grpc://0.0.0.0:{s.flight_port}", calendar=get_calendar(s.exchange),
                trailing_days=s.trailing_days, store=self._store)
            self._runtime = Runtime.start(s, store=self._store, on_frozen=hub.offer)
            self._runtime.on_activated(hub.offer)
        except BaseException:
            self.__exit__()
            raise
        return self._runtime, hub

    def __exit__(self, *_: object) -> None:
        if self._hub is not None:
            self._hub.shutdown()
        if self._runtime is not None:
            self._runtime.stop(_STOP_TIMEOUT_S)
        if self._store is not None:
            self._store.close()


class _StopSignals:
    """SIGINT and SIGTERM, turned into a readable pipe for the main loop.

    Python runs signal handlers in the main thread whichever thread the
    signal hits; the handler only records the signal, and the wake-up fd
    makes the main loop's ``select`` return at once.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._read, self._write = os.pipe()
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_fd = -1

    def __enter__(self) -> Self:
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write)
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._record)
        return self

    def _record(self, signum: int, _frame: object) -> None:
        self.received = signal.Signals(signum)

    def wait(self, timeout: float) -> signal.Signals | None:
        """Return the signal received, or None after ``timeout`` seconds."""
        if self.received is None:
            ready, _, _ = select.select([self._read], [], [], timeout)
            if ready:
                os.read(self._read, 64)
        return self.received

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)


def _serve_until_signal(runtime: Runtime, stop: _StopSignals, interval: int | None,
                        hub: SnapshotHub | None = None) -> None:
    seen = 0
    next_status = time.monotonic() + interval if interval else None
    while True:
        received = stop.wait(0.5)
        seen = _log_events(runtime.status().events, seen)
        if received is not None:
            log.info("event=signal signal=%s", received.name)
            return
        if not runtime.status().running:
            log.error("event=gave-up reason=%r", runtime.status().last_error)
            raise typer.Exit(1)
        if next_status is not None and time.monotonic() >= next_status:
            log.info("event=status %s", _status_line(runtime.status(), hub))
            next_status += interval or 0


def prefetch(
    session: Annotated[
        str | None, typer.Option("--session", help="The session (YYYY-MM-DD); default: next.")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated symbols; default: settings.")
    ] = None,
    config: ConfigOption = None,
    store: StoresOption = None,
) -> None:
    """Load one session now; print the summary and the validation findings."""
    from preopen.calendar import get_calendar  # noqa: PLC0415
    from preopen.calendar.timing import prefetch_start  # noqa: PLC0415
    from preopen.clock import SimulatedClock, SystemClock  # noqa: PLC0415
    from preopen.errors import NotASessionError  # noqa: PLC0415
    from preopen.runtime import Runtime  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415

    wanted = parse_symbol_list("--symbols", symbols) if symbols is not None else None
    settings = Settings.load(config, store=_stores(store), symbols=wanted)
    calendar = get_calendar(settings.exchange)
    day: dt.date
    if session is None:
        day = calendar.next_open(SystemClock().now()).date()
    else:
        day = parse_date("--session", session)
        if not calendar.is_session(day):
            raise NotASessionError(day, calendar.name)
    # The runtime's own path, on a clock put at the session's prefetch start.
    clock = SimulatedClock(prefetch_start(calendar, day, settings.window))
    started = time.perf_counter()
    with Runtime.start(settings, clock=clock, calendar=calendar) as runtime:
        clock.advance(dt.timedelta(0))
        status = runtime.wait_for(
            lambda s: s.session == day and s.prefetch_seconds is not None, timeout=_WAIT_S
        )
        if status.progress.done == 0:
            # Nothing loaded at all: the store is down or holds none of the symbols.
            console.print(f"[red]prefetch of {day} loaded nothing[/]: {status.last_error}")
            raise typer.Exit(1)
        clock.advance_to(calendar.open_at(day))
        runtime.wait_for(lambda s: s.serving == day, timeout=_WAIT_S)
        snapshot = runtime.snapshot()
        where = runtime.store.url
        final = runtime.status()
    seconds = time.perf_counter() - started
    if final.shard or final.store_served:
        served = f"served by {final.store_served} " if final.store_served else ""
        fell = f"after {final.store_fallbacks} fallbacks " if final.store_fallbacks else ""
        console.print(f"{served}{fell}shard {final.shard or 'all'}", soft_wrap=True)
    table = Table(title=f"prefetch {day}: {where}")
    for column in ("symbols", "bars", "bytes", "load failures", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{len(snapshot.symbols):,}",
        f"{snapshot.nbars:,}",
        f"{snapshot.nbytes:,}",
        f"{len(status.failed_symbols):,}",
        f"{seconds:.2f}",
    )
    console.print(table)
    findings = snapshot.report.findings()
    console.print(f"validation: {len(findings)} finding(s)")
    for line in findings[:50]:
        console.print(f"  {line}")
    # A symbol fails when it could not be loaded, or loaded incomplete or unusable.
    failed = sorted({*status.failed_symbols, *snapshot.report.failed_symbols})
    if failed:
        console.print(f"[red]{len(failed)} failed symbol(s)[/]: {', '.join(failed[:20])}")
        raise typer.Exit(1)
