"""The scheduler's decisions, as plain single-threaded logic.

:class:`Planner` is everything the SchedulerActor decides, with no actor and
no I/O in it: the actor feeds it what happens (ticks, replies, changes) and
sends the commands it leaves in :attr:`Planner.outbox`. Timing comes only
from the pure functions of :mod:`preopen.calendar.timing`.

One *cycle* per target session (the session in progress, else the next to
open):

1. planned as soon as it becomes the target (at the previous close, or at
   start);
2. in the window (``open - window <= now < open``, when ``enabled``): the load
   starts with the active symbols (listing the store's symbols first when the
   active set is "every symbol"), and failed keys are retried at each tick;
3. when the load is done, the snapshot is assembled (validated, frozen);
4. at the open tick, a complete snapshot is activated at once (when
   ``auto_activate``); otherwise the session *falls back*: a stale snapshot
   is retired, the load is started or finished or retried, and the snapshot
   is activated as soon as the load is done (complete or not: the report and
   the status name the failed symbols, and they are retried at each tick,
   each success activating a follow-up snapshot of the same session);
5. symbols added meanwhile are loaded into the same cycle: before the open
   they join the snapshot, after it they make a follow-up snapshot;
6. at the close the next session becomes the target: a new cycle.

Activation never happens before the cycle's open tick, and only for the
cycle's own session, so the host is never served a future session; the
SessionDataActor refuses anything that is not the session in progress.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from preopen.actors._prefetch import Batch, LoadSpec, Prefetch, Progress
from preopen.actors._status import Event, EventKind, RuntimeStatus
from preopen.calendar.timing import (
    Phase,
    next_phase_change,
    phase_at,
    prefetch_start,
    target_session,
)
from preopen.errors import DateOutOfRangeError

if TYPE_CHECKING:
    import datetime as dt

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot

__all__ = [
    "Assembler",
    "Command",
    "PlanConfig",
    "Planner",
    "SendActivate",
    "SendBatch",
    "SendList",
    "SendRetire",
    "load_spec",
]

#: Builds the snapshot of a spec from the loaded bars, at ``built_at``.
Assembler = Callable[
    ["LoadSpec", Mapping[tuple[str, str], "Bars"], "ExchangeCalendar", "pendulum.DateTime"],
    "SessionSnapshot",
]

# How many events the status keeps.
_HISTORY = 64


@dataclass(frozen=True, slots=True)
class PlanConfig:
    """The settings the planner needs (see :class:`preopen.settings.Settings`)."""

    window: dt.timedelta
    check_interval: dt.timedelta
    intervals: tuple[str, ...]
    trailing_days: int
    loaders: int
    batch_size: int
    max_attempts: int
    enabled: bool = True
    auto_activate: bool = True
    per_loader: int = 2


@dataclass(frozen=True, slots=True)
class SendBatch:
    """Send ``batch`` (over ``[start, end)``) to loader number ``loader``."""

    loader: int
    batch: Batch
    start: pendulum.DateTime
    end: pendulum.DateTime


@dataclass(frozen=True, slots=True)
class SendList:
    """Ask loader number ``loader`` for the store's symbols."""

    loader: int
    request_id: int


@dataclass(frozen=True, slots=True)
class SendActivate:
    """Tell the SessionDataActor to serve ``snapshot``."""

    snapshot: SessionSnapshot
    sent_at: float


@dataclass(frozen=True, slots=True)
class SendRetire:
    """Tell the SessionDataActor to stop serving snapshots older than ``session``."""

    session: dt.date


Command = SendBatch | SendList | SendActivate | SendRetire


def load_spec(calendar: ExchangeCalendar, session: dt.date, config: PlanConfig) -> LoadSpec:
    """What to load for ``session``.

    The bars of its trailing sessions, from the open of the first to the
    close of the last, at every interval (daily bars too: one per session).
    """
    trailing = calendar.trailing_sessions(session, config.trailing_days)
    return LoadSpec(
        session=session,
        open=calendar.open_at(session),
        close=calendar.close_at(session),
        trailing=trailing,
        start=calendar.open_at(trailing[0]),
        end=calendar.close_at(trailing[-1]),
        intervals=config.intervals,
    )


class _Cycle:
    """One target session's state."""

    def __init__(self, spec: LoadSpec, starts: pendulum.DateTime) -> None:
        self.spec = spec
        self.prefetch_start = starts
        self.load: Prefetch[Bars] | None = None
        self.listing: int | None = None
        self.opened = False
        self.open_perf: float | None = None
        self.load_started: float | None = None
        self.snapshot: SessionSnapshot | None = None
        self.pending: SessionSnapshot | None = None  # activation sent, unanswered
        self.served: SessionSnapshot | None = None
        self.fallback = False

    @property
    def session(self) -> dt.date:
        return self.spec.session


class Planner:
    """The scheduler's state and decisions.

    Args:
        config: the settings it needs.
        assemble: builds a snapshot from loaded bars.
        empty: makes an empty Bars (for a symbol the store has nothing for).
        symbols: the active set (``None``: every symbol in the store).
        serving: the session of the snapshot already served, if any.
        restore: the last status published, to carry counters and history
            over a restart of the scheduler.
    """

    def __init__(
        self,
        config: PlanConfig,
        *,
        assemble: Assembler,
        empty: Callable[[str, str], Bars],
        symbols: frozenset[str] | None = None,
        serving: dt.date | None = None,
        restore: RuntimeStatus | None = None,
    ) -> None:
        """Create a planner with no calendar yet."""
        self.config = config
        self._assemble = assemble
        self._empty = empty
        self.symbols = symbols
        self.calendar: ExchangeCalendar | None = None
        self.cycle: _Cycle | None = None
        self.outbox: list[Command] = []
        self.now: pendulum.DateTime | None = None
        self._ids = itertools.count(1)
        self._listed: tuple[str, ...] | None = None
        self._loader_rr = itertools.cycle(range(config.loaders))
        base = restore if restore is not None else RuntimeStatus(serving=serving)
        self._status = replace(base, running=True)
        self._events: deque[Event] = deque(base.events, maxlen=_HISTORY)
        self._seq = itertools.count(base.events[-1].seq + 1 if base.events else 1)
        self._bars_base = base.bars_loaded
        self._bytes_base = base.bytes_loaded
        self._loaded_before = (0, 0)  # bars and bytes of loads already counted
        # next_phase_change is costly (~0.5 ms): cached as (calendar, from, change).
        self._change: tuple[ExchangeCalendar, pendulum.DateTime, pendulum.DateTime] | None = None

    # --- inputs ----------------------------------------------------------------

    def set_calendar(self, calendar: ExchangeCalendar, now: pendulum.DateTime) -> None:
        """Take a (possibly amended) calendar and re-plan at ``now``."""
        amended = self.calendar is not None
        self.calendar = calendar
        cycle = self.cycle
        if cycle is not None and not self._still_valid(cycle, calendar):
            self._event(now, EventKind.CALENDAR, cycle.session,
                        "the calendar changed: the session is re-planned")
            self._close_cycle()
        elif amended:
            self._event(now, EventKind.CALENDAR, None, "the calendar changed: plan unchanged")
        self.tick(now, time.perf_counter())

    def tick(self, now: pendulum.DateTime, perf: float) -> None:
        """Decide what is due at ``now`` (``perf``: when handling started)."""
        self.now = now
        calendar = self.calendar
        if calendar is None:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.opened and cycle.spec.open <= now < cycle.spec.close:
            # The open tick: the fast path, so that the swap is not kept waiting.
            self._at_open(cycle, now, perf)
            self._pump()
            return
        try:
            target = target_session(now, calendar, self.config.window)
        except DateOutOfRangeError as exc:
            self._error(now, None, f"no session to plan: {exc}")
            return
        cycle = self.cycle
        if cycle is None or cycle.session != target:
            if cycle is not None and now >= cycle.spec.close:
                self._event(now, EventKind.SESSION_ENDED, cycle.session,
                            f"closed at {cycle.spec.close.isoformat()}")
            self._close_cycle()
            cycle = self._plan(calendar, target, now)
        if now >= cycle.spec.open:
            self._at_open(cycle, now, perf)
        elif self.config.enabled and now >= cycle.prefetch_start:
            self._in_window(cycle, now)
        self._pump()

    def symbols_changed(self, symbols: frozenset[str] | None, now: pendulum.DateTime) -> None:
        """Take a new active set; load what the current cycle lacks."""
        self.symbols = symbols
        self.now = now
        cycle = self.cycle
        what = "every symbol in the store" if symbols is None else f"{len(symbols)} symbols"
        self._event(now, EventKind.SYMBOLS, cycle.session if cycle else None,
                    f"active set changed: {what}")
        if cycle is None or cycle.load is None:
            return
        if symbols is None:
            self._request_listing(cycle)
            return
        added = cycle.load.add(symbols, cycle.spec.intervals)
        if added:
            self._event(now, EventKind.SYMBOLS, cycle.session, f"{added} keys added to the load")
            self._pump()
        elif cycle.load.done and cycle.snapshot is not None:
            present = {symbol for symbol, _ in cycle.load.data(symbols)}
            if present != set(cycle.snapshot.symbols):
                self._finish(cycle, time.perf_counter())  # symbols removed: a smaller snapshot

    def symbols_listed(self, request_id: int, symbols: tuple[str, ...]) -> None:
        """Take the store's symbols (when the active set is every symbol)."""
        cycle = self.cycle
        if cycle is None or cycle.listing != request_id:
            return
        cycle.listing = None
        self._listed = symbols
        self._start_load(cycle, symbols)
        self._pump()

    def loaded(self, request_id: int, bars: Mapping[str, Bars], seconds: float) -> None:
        """Take a loader's bars."""
        cycle = self.cycle
        if cycle is None or cycle.load is None:
            return
        if cycle.load.loaded(request_id, bars, seconds) is None:
            return  # a late answer for an earlier cycle or a re-sent batch
        self._progressed(cycle)

    def load_failed(self, request_id: int, error: str, *, transient: bool) -> None:
        """Take a loader's failure."""
        cycle = self.cycle
        if cycle is None:
            return
        if cycle.listing == request_id:
            cycle.listing = None
            self._error(self.now, cycle.session, f"listing the store's symbols failed: {error}")
            return
        if cycle.load is None or cycle.load.failed(request_id, error, transient=transient) is None:
            return
        self._status = replace(self._status, last_error=error)
        self._progressed(cycle)

    def activated(self, session: dt.date, symbols: int, latency_s: float) -> None:
        """The SessionDataActor now serves ``session``'s snapshot."""
        cycle = self.cycle
        fallback_s = None
        if cycle is not None and cycle.session == session and cycle.pending is not None:
            cycle.served, cycle.pending = cycle.pending, None
            if cycle.fallback and cycle.open_perf is not None and self._status.serving != session:
                fallback_s = time.perf_counter() - cycle.open_perf
        first = self._status.serving != session
        self._status = replace(
            self._status,
            serving=session,
            serving_symbols=symbols,
            activations=self._status.activations + 1,
            activation_latency_s=latency_s,
            fallback_seconds=(
                fallback_s if fallback_s is not None else self._status.fallback_seconds
            ),
        )
        what = "activated" if first else "follow-up activated"
        self._event(self.now, EventKind.ACTIVATED, session,
                    f"{what}: {symbols} symbols, {latency_s * 1e6:.0f} us")

    def activation_refused(self, session: dt.date, reason: str) -> None:
        """The SessionDataActor refused ``session``'s snapshot: re-plan and re-fetch."""
        self._error(self.now, session, f"activation refused: {reason}", kind=EventKind.REFUSED)
        cycle = self.cycle
        if cycle is not None and cycle.session == session:
            cycle.pending = None
            self._close_cycle()

    def child_restarted(self, child: str, restarts: int, error: str) -> None:
        """The supervisor restarted ``child``: re-send what it lost."""
        self._status = replace(self._status, restarts=restarts, last_error=error)
        cycle = self.cycle
        self._event(self.now, EventKind.RESTART, cycle.session if cycle else None,
                    f"{child} restarted after {error}")
        if cycle is None:
            return
        if child.startswith("loader-") and cycle.load is not None:
            lost = cycle.load.loader_lost(int(child.removeprefix("loader-")))
            if lost:
                self._event(self.now, EventKind.RETRY, cycle.session,
                            f"{lost} batches of {child} handed to live loaders")
            self._progressed(cycle)
        if child.startswith("loader-") and cycle.listing is not None:
            self._request_listing(cycle)
        if child == "session_data" and cycle.pending is not None:
            self.outbox.append(SendActivate(cycle.pending, time.perf_counter()))

    def activate_now(self) -> SessionSnapshot | None:
        """Activate the prepared snapshot of the session in progress (host's request)."""
        cycle = self.cycle
        if cycle is None or not cycle.opened or cycle.snapshot is None:
            return None
        cycle.pending = cycle.snapshot
        self.outbox.append(SendActivate(cycle.snapshot, time.perf_counter()))
        return cycle.snapshot

    # --- outputs ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A load, a listing or an activation is unanswered."""
        cycle = self.cycle
        if self.calendar is None:
            return True
        if cycle is None:
            return False
        return (
            cycle.listing is not None
            or (cycle.load is not None and not cycle.load.done)
            or cycle.pending is not None
        )

    def next_wake(self, now: pendulum.DateTime) -> pendulum.DateTime:
        """When the scheduler wants its next tick: the next phase change, or the check interval."""
        latest = now + self.config.check_interval
        calendar = self.calendar
        if calendar is None:
            return latest
        cached = self._change
        if cached is not None and cached[0] is calendar and cached[1] <= now < cached[2]:
            return min(latest, cached[2])
        try:
            change = next_phase_change(now, calendar, self.config.window).in_tz("UTC")
        except DateOutOfRangeError:
            return latest
        self._change = (calendar, now, change)
        return min(latest, change)

    def status(self, now: pendulum.DateTime | None = None) -> RuntimeStatus:
        """The status as of ``now`` (default: the last tick)."""
        now = now if now is not None else self.now
        status = self._status
        cycle = self.cycle
        phase = status.phase
        if now is not None and self.calendar is not None:
            try:
                phase = phase_at(now, self.calendar, self.config.window)
            except DateOutOfRangeError:
                phase = Phase.IDLE
        load = cycle.load if cycle is not None else None
        bars, nbytes = self._loaded_before
        if load is not None:
            bars += load.bars_loaded
            nbytes += load.bytes_loaded
        return replace(
            status,
            phase=phase,
            now=now,
            session=cycle.session if cycle else None,
            session_open=cycle.spec.open if cycle else None,
            prefetch_start=cycle.prefetch_start if cycle else None,
            progress=load.progress if load is not None else Progress(),
            failed_symbols=load.failed_symbols() if load is not None else (),
            bars_loaded=self._bars_base + bars,
            bytes_loaded=self._bytes_base + nbytes,
            events=tuple(self._events),
        )

    # --- the cycle -------------------------------------------------------------

    def _plan(self, calendar: ExchangeCalendar, session: dt.date, now: pendulum.DateTime) -> _Cycle:
        spec = load_spec(calendar, session, self.config)
        starts = prefetch_start(calendar, session, self.config.window)
        cycle = _Cycle(spec, starts)
        self.cycle = cycle
        self._event(now, EventKind.PLANNED, session,
                    f"opens {spec.open.isoformat()}, prefetch from {starts.isoformat()}, "
                    f"{len(spec.trailing)} trailing sessions "
                    f"{spec.trailing[0].isoformat()}..{spec.trailing[-1].isoformat()}")
        return cycle

    def _still_valid(self, cycle: _Cycle, calendar: ExchangeCalendar) -> bool:
        try:
            if not calendar.is_session(cycle.session):
                return False
            return load_spec(calendar, cycle.session, self.config) == cycle.spec
        except DateOutOfRangeError:
            return False

    def _close_cycle(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.load is not None:
            bars, nbytes = self._loaded_before
            self._loaded_before = (bars + cycle.load.bars_loaded, nbytes + cycle.load.bytes_loaded)
        self.cycle = None

    def _in_window(self, cycle: _Cycle, now: pendulum.DateTime) -> None:
        if cycle.load is None and cycle.listing is None:
            self._event(now, EventKind.PREFETCH_STARTED, cycle.session,
                        f"window of {self.config.window} before the open")
            self._begin(cycle)
        elif cycle.load is not None and cycle.load.done and cycle.load.failures:
            self._retry(cycle, now)

    def _at_open(self, cycle: _Cycle, now: pendulum.DateTime, perf: float) -> None:
        if cycle.opened:
            if cycle.load is not None and cycle.load.done and cycle.load.failures:
                self._retry(cycle, now)
            elif cycle.load is None and cycle.listing is None:
                self._begin(cycle)
            return
        cycle.opened = True
        cycle.open_perf = perf
        ready = cycle.snapshot is not None and cycle.load is not None and cycle.load.complete
        if ready and cycle.snapshot is not None:
            if self.config.auto_activate:
                cycle.pending = cycle.snapshot
                self.outbox.append(SendActivate(cycle.snapshot, perf))
            return
        cycle.fallback = True
        self._status = replace(self._status, fallbacks=self._status.fallbacks + 1)
        self._event(now, EventKind.FALLBACK, cycle.session, self._why_not_ready(cycle))
        serving = self._status.serving
        if self.config.auto_activate and serving is not None and serving != cycle.session:
            self.outbox.append(SendRetire(cycle.session))
            self._event(now, EventKind.RETIRED, serving,
                        "no longer served: its session is over and the new one has no data yet")
        if cycle.load is None and cycle.listing is None:
            self._begin(cycle)
        elif cycle.load is not None and cycle.load.done and cycle.load.failures:
            self._retry(cycle, now)

    def _why_not_ready(self, cycle: _Cycle) -> str:
        if not self.config.enabled:
            return "prefetch disabled: loading at the open"
        load = cycle.load
        if load is None:
            return "prefetch not started before the open: loading now"
        progress = load.progress
        if not load.done:
            return (f"prefetch incomplete at the open ({progress.done}/{progress.total} keys): "
                    "finishing the load now")
        return f"prefetch failed for {progress.failed} keys: retrying them at the open"

    def _begin(self, cycle: _Cycle) -> None:
        cycle.load_started = time.perf_counter()
        if self.symbols is None:
            self._request_listing(cycle)
        else:
            self._start_load(cycle, tuple(self.symbols))

    def _request_listing(self, cycle: _Cycle) -> None:
        request_id = next(self._ids)
        cycle.listing = request_id
        self.outbox.append(SendList(next(self._loader_rr), request_id))

    def _start_load(self, cycle: _Cycle, symbols: tuple[str, ...]) -> None:
        if cycle.load is None:
            cycle.load = Prefetch(
                loaders=self.config.loaders,
                batch_size=self.config.batch_size,
                max_attempts=self.config.max_attempts,
                empty=self._empty,
                per_loader=self.config.per_loader,
                ids=self._ids,
            )
            if cycle.load_started is None:
                cycle.load_started = time.perf_counter()
        cycle.load.add(symbols, cycle.spec.intervals)
        if cycle.load.done:  # nothing to load at all
            self._finish(cycle, time.perf_counter())

    def _retry(self, cycle: _Cycle, now: pendulum.DateTime) -> None:
        assert cycle.load is not None  # noqa: S101 - callers check
        count = cycle.load.retry_failed()
        self._event(now, EventKind.RETRY, cycle.session, f"retrying {count} failed keys")

    def _progressed(self, cycle: _Cycle) -> None:
        load = cycle.load
        if load is None:
            return
        if load.done:
            self._finish(cycle, time.perf_counter())
        else:
            self._pump()

    def _finish(self, cycle: _Cycle, perf: float) -> None:
        load = cycle.load
        calendar = self.calendar
        if load is None or calendar is None or self.now is None:
            return
        wanted = self.symbols if self.symbols is not None else self._listed
        snapshot = self._assemble(cycle.spec, load.data(wanted), calendar, self.now)
        cycle.snapshot = snapshot
        progress = load.progress
        seconds = perf - cycle.load_started if cycle.load_started is not None else None
        self._status = replace(self._status, prefetch_seconds=seconds)
        state = "complete" if load.complete else f"incomplete: {progress.failed} keys failed"
        self._event(self.now, EventKind.PREFETCH_DONE, cycle.session,
                    f"{progress.done}/{progress.total} keys, {load.bars_loaded} bars, {state}")
        if cycle.opened and self.config.auto_activate:
            cycle.pending = snapshot
            self.outbox.append(SendActivate(snapshot, perf))

    def _pump(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.load is None:
            return
        spec = cycle.spec
        for loader, batch in cycle.load.dispatch():
            self.outbox.append(SendBatch(loader, batch, spec.start, spec.end))

    # --- history ---------------------------------------------------------------

    def _event(self, at: pendulum.DateTime | None, kind: EventKind, session: dt.date | None,
               detail: str) -> None:
        when = at if at is not None else self.now
        if when is None:
            return
        self._events.append(Event(next(self._seq), when, kind, session, detail))

    def _error(self, at: pendulum.DateTime | None, session: dt.date | None, detail: str,
               *, kind: EventKind = EventKind.ERROR) -> None:
        self._status = replace(self._status, last_error=detail)
        self._event(at, kind, session, detail)
