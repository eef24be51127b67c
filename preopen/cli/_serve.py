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

from preopen.cli._common import (
    BadInputError,
    MaskPasswords,
    PrefetchFailedError,
    check_store_exists,
    console,
    parse_date,
)
from preopen.cli._logjson import LOG_FORMATS, configure_logging
from preopen.cli._options import ConfigOption, parse_count, parse_symbol_list

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.hub import SnapshotHub
    from preopen.metrics import MetricsServer
    from preopen.runtime import Runtime
    from preopen.settings import Settings
    from preopen.status import Event, RuntimeStatus

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
                extra={"fields": {"event": str(event.kind), "session": session,
                                  "at": event.at.isoformat(), "detail": event.detail,
                                  "seq": event.seq}},
            )
            after = event.seq
    return after


def _status_fields(status: RuntimeStatus) -> dict[str, object]:
    p = status.progress
    return {
        "phase": str(status.phase), "session": status.session, "serving": status.serving,
        "done": p.done, "total": p.total, "failed": p.failed, "bars": status.bars_loaded,
        "activations": status.activations, "fallbacks": status.fallbacks,
        "restarts": status.restarts,
    }


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
        str | None,
        typer.Option("--status-interval", metavar="SECONDS", help="Seconds between status lines."),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    ] = "INFO",
    metrics_port: Annotated[
        str | None,
        typer.Option("--metrics-port", metavar="PORT",
                     help="Serve Prometheus metrics on this port (0: a free port, logged)."),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option("--metrics-host", metavar="HOST",
                     help="The address to bind (default: 127.0.0.1)."),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", metavar="FORMAT",
                     help="text (key=value) or json (a line each)."),
    ] = None,
) -> None:
    """Run on the real clock until SIGINT or SIGTERM."""
    from preopen.settings import Settings  # noqa: PLC0415

    interval = (
        parse_count("--status-interval", status_interval, high=86_400) if status_interval else None
    )
    level = logging.getLevelNamesMapping().get(log_level.upper())
    if level is None:
        raise BadInputError("--log-level", log_level, "DEBUG, INFO, WARNING or ERROR")
    if log_format is not None and log_format not in LOG_FORMATS:
        raise BadInputError("--log-format", log_format, " or ".join(LOG_FORMATS))
    port = parse_count("--metrics-port", metrics_port, low=0, high=65_535) \
        if metrics_port is not None else None
    flight = parse_count("--flight-port", flight_port, low=0, high=65_535) \
        if flight_port else None
    settings = Settings.load(config, store=_stores(store), metrics_port=port,
                             metrics_host=metrics_host, log_format=log_format, flight_port=flight)
    configure_logging(level, settings.log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskPasswords())
    check_store_exists(settings.store)
    with _StopSignals() as stop, _Hosted(settings) as (runtime, hub):
        fields = {"event": "serving", "exchange": settings.exchange,
                  "store": runtime.store.url, "symbols": len(settings.symbols) or "all",
                  "shard": settings.shard or "all",
                  "flight_port": hub.port if hub is not None else "-"}
        log.info("event=serving exchange=%s store=%s symbols=%s shard=%s flight_port=%s",
                 *list(fields.values())[1:], extra={"fields": fields})
        metrics = _start_metrics(settings, runtime)
        try:
            _serve_until_signal(runtime, stop, interval, hub)
        finally:
            if metrics is not None:
                metrics.stop()
        log.info("event=stopping timeout_s=%.1f", _STOP_TIMEOUT_S,
                 extra={"fields": {"event": "stopping", "timeout_s": _STOP_TIMEOUT_S}})
        runtime.stop(_STOP_TIMEOUT_S)
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    log.info("event=stopped threads_left=%d", len(left),
             extra={"fields": {"event": "stopped", "threads_left": len(left)}})


def _start_metrics(settings: Settings, runtime: Runtime) -> MetricsServer | None:
    """Start the metrics server when ``metrics_port`` is set; log where it listens."""
    if settings.metrics_port is None:
        return None
    from preopen.errors import SettingsError  # noqa: PLC0415
    from preopen.metrics import start_metrics_server  # noqa: PLC0415 - the optional extra

    try:
        server = start_metrics_server(runtime, port=settings.metrics_port,
                                      host=settings.metrics_host)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError("metrics_port", settings.metrics_port,
                            f"a port free to bind on {settings.metrics_host} ({reason})") from None
    log.info("event=metrics url=%s host=%s port=%d", server.url, server.host, server.port,
             extra={"fields": {"event": "metrics", "url": server.url, "host": server.host,
                               "port": server.port}})
    return server


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
        try:
            if self._hub is not None:
                self._hub.shutdown()
            if self._runtime is not None:
                self._runtime.stop(_STOP_TIMEOUT_S)
        finally:
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
            log.info("event=signal signal=%s", received.name,
                     extra={"fields": {"event": "signal", "signal": received.name}})
            return
        if not runtime.status().running:
            reason = runtime.status().last_error
            log.error("event=gave-up reason=%r", reason,
                      extra={"fields": {"event": "gave-up", "reason": reason}})
            raise typer.Exit(1)
        if next_status is not None and time.monotonic() >= next_status:
            status = runtime.status()
            log.info("event=status %s", _status_line(status, hub),
                     extra={"fields": {"event": "status", **_status_fields(status)}})
            next_status += interval or 0


def prefetch(
    session: Annotated[
        str | None,
        typer.Option("--session", metavar="DATE", help="The session (YYYY-MM-DD); default: next."),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols", metavar="A,B", help="Comma-separated symbols; default: settings."
        ),
    ] = None,
    config: ConfigOption = None,
    store: StoresOption = None,
) -> None:
    """Load one session now; print the summary and the validation findings.

    It loads whatever ``enabled`` and ``auto_activate`` say: prefetch is an
    explicit request, run on a runtime of its own that nothing else shares.
    """
    from preopen.calendar import get_calendar  # noqa: PLC0415
    from preopen.calendar.timing import prefetch_start  # noqa: PLC0415
    from preopen.clock import SimulatedClock, SystemClock  # noqa: PLC0415
    from preopen.errors import NotASessionError  # noqa: PLC0415
    from preopen.runtime import Runtime  # noqa: PLC0415
    from preopen.settings import Settings, redact  # noqa: PLC0415

    wanted = parse_symbol_list("--symbols", symbols) if symbols is not None else None
    settings = Settings.load(config, store=_stores(store), symbols=wanted)
    settings = settings.replace(enabled=True, auto_activate=True)
    calendar = get_calendar(settings.exchange)
    day: dt.date
    if session is None:
        day = calendar.next_open(SystemClock().now()).date()
    else:
        day = parse_date("--session", session)
        if not calendar.is_session(day):
            raise NotASessionError(day, calendar.name)
    check_store_exists(settings.store)
    # The runtime's own path, on a clock put at the session's prefetch start.
    clock = SimulatedClock(prefetch_start(calendar, day, settings.window))
    started = time.perf_counter()
    with Runtime.start(settings, clock=clock, calendar=calendar) as runtime:
        clock.advance(dt.timedelta(0))
        status = runtime.wait_for(_prefetched(day), timeout=_WAIT_S)
        if status.progress.done == 0:
            # Nothing loaded at all: the store is down or holds none of the symbols.
            reason = status.last_error or "the store holds none of the symbols"
            raise PrefetchFailedError(f"prefetch of {day} loaded nothing: {reason}")
        clock.advance_to(calendar.open_at(day))
        runtime.wait_for(_serving(day), timeout=_WAIT_S)
        snapshot = runtime.snapshot()
        where = runtime.store.url
        final = runtime.status()
    seconds = time.perf_counter() - started
    if final.shard or final.store_served:
        served = f"served by {final.store_served} " if final.store_served else ""
        fell = f"after {final.store_fallbacks} fallbacks " if final.store_fallbacks else ""
        console.print(f"{served}{fell}shard {final.shard or 'all'}", soft_wrap=True)
    table = Table(title=f"prefetch {day}: {redact(where)}")
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
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""  # noqa: PLR2004
        total = len({*snapshot.symbols, *status.failed_symbols})
        raise PrefetchFailedError(
            f"prefetch of {day}: {len(failed)} of {total} symbol(s) failed: "
            f"{', '.join(failed[:5])}{more}"
        )


def _prefetched(day: dt.date) -> Callable[[RuntimeStatus], bool]:
    def prefetch_done(status: RuntimeStatus) -> bool:
        return status.session == day and status.prefetch_seconds is not None

    prefetch_done.__name__ = f"the prefetch of {day}"
    return prefetch_done


def _serving(day: dt.date) -> Callable[[RuntimeStatus], bool]:
    def serving(status: RuntimeStatus) -> bool:
        return status.serving == day

    serving.__name__ = f"the activation of {day}"
    return serving
