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
   active set is "every symbol"); failed keys (or a failed listing) are
   retried with backoff: 1 s after the failure, then twice as long each
   time, at most the check interval (the next wake-up is the earlier of the
   retry and the usual one);
3. when the load is done, the snapshot is assembled (validated, frozen);
4. at the open tick, a complete snapshot is activated at once (when
   ``auto_activate``); otherwise the session *falls back*: a stale snapshot
   is retired, the load is started or finished or retried at once (the open
   restarts the backoff), and the snapshot is activated as soon as the load
   is done with at least one key loaded (the report and the status name the
   failed symbols; they are retried with backoff until they load or the
   session ends, each success activating a follow-up snapshot). A load
   with nothing loaded at all is not activated: an empty snapshot would
   tell the host the session has no data;
   a scheduler restarted after the open adopts the snapshot already served
   (no fallback, no reload) and loads only what it lacks;
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
from typing import TYPE_CHECKING

from preopen.actors._journal import Journal
from preopen.actors._loading import LoadSteps
from preopen.actors._plan import (
    Assembler,
    Command,
    Cycle,
    PlanConfig,
    SendActivate,
    SendBatch,
    SendList,
    SendRetire,
    load_spec,
)
from preopen.actors._status import EventKind, RuntimeStatus
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
    from collections.abc import Callable, Mapping

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot

# The plan's vocabulary lives in _plan; re-exported for whoever imports it from here.
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

class Planner(LoadSteps):
    """The scheduler's state and decisions.

    Args:
        config: the settings it needs.
        assemble: builds a snapshot from loaded bars.
        empty: makes an empty Bars (for a symbol the store has nothing for).
        symbols: the active set (``None``: every symbol in the store).
        serving: the session of the snapshot already served, if any.
        served: that snapshot: a restarted scheduler adopts it when its
            session is the one in progress (no reload, no fallback).
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
        served: SessionSnapshot | None = None,
        restore: RuntimeStatus | None = None,
    ) -> None:
        """Create a planner with no calendar yet."""
        self.config = config
        self._assemble = assemble
        self._empty = empty
        self.symbols = symbols
        self.calendar: ExchangeCalendar | None = None
        self.cycle: Cycle | None = None
        self.outbox: list[Command] = []
        # Set when a snapshot was assembled before its open: the actor then
        # runs a full garbage collection, so that none is pending at the open.
        self.collect = False
        self.now: pendulum.DateTime | None = None
        self._ids = itertools.count(1)
        self._listed: tuple[str, ...] | None = None
        self._loader_rr = itertools.cycle(range(config.loaders))
        self._served = served
        if served is not None and serving is None:
            serving = served.session
        self._journal = Journal(restore if restore is not None
                                else RuntimeStatus(serving=serving))
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
            when = self._back_off(cycle)
            again = f", retrying at {when.isoformat()}" if when is not None else ""
            self._error(self.now, cycle.session,
                        f"listing the store's symbols failed: {error}{again}")
            return
        if cycle.load is None or cycle.load.failed(request_id, error, transient=transient) is None:
            return
        self._journal.update(last_error=error)
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
        self._journal.update(
            serving=session,
            serving_symbols=symbols,
            activations=self._status.activations + 1,
            activation_latency_s=latency_s,
            activation_latencies=self._status.activation_latencies.observe(latency_s),
            served_at=self.now,
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

    def child_restarted(self, child: str, restarts: int, error: str,
                        now: pendulum.DateTime | None = None) -> None:
        """The supervisor restarted ``child``: re-send what it lost.

        ``now`` dates the event when the planner has seen no tick yet (a
        restarted scheduler learns of its own restart before its first tick).
        """
        self._journal.update(restarts=restarts, last_error=error)
        cycle = self.cycle
        when = self.now if self.now is not None else now
        self._event(when, EventKind.RESTART, cycle.session if cycle else None,
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
        cycle = self.cycle
        if cycle is not None and cycle.retry_at is not None and cycle.retry_at > now:
            latest = min(latest, cycle.retry_at)
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
        phase = None
        if now is not None and self.calendar is not None:
            try:
                phase = phase_at(now, self.calendar, self.config.window)
            except DateOutOfRangeError:
                phase = Phase.IDLE
        return self._journal.view(now, phase, self.cycle)

    # --- the cycle -------------------------------------------------------------

    def _plan(self, calendar: ExchangeCalendar, session: dt.date, now: pendulum.DateTime) -> Cycle:
        spec = load_spec(calendar, session, self.config)
        starts = prefetch_start(calendar, session, self.config.window)
        cycle = Cycle(spec, starts)
        self.cycle = cycle
        self._event(now, EventKind.PLANNED, session,
                    f"opens {spec.open.isoformat()}, prefetch from {starts.isoformat()}, "
                    f"{len(spec.trailing)} trailing sessions "
                    f"{spec.trailing[0].isoformat()}..{spec.trailing[-1].isoformat()}")
        return cycle

    def _still_valid(self, cycle: Cycle, calendar: ExchangeCalendar) -> bool:
        try:
            if not calendar.is_session(cycle.session):
                return False
            return load_spec(calendar, cycle.session, self.config) == cycle.spec
        except DateOutOfRangeError:
            return False

    def _close_cycle(self) -> None:
        if self.cycle is not None:
            self._journal.close(self.cycle)
        self.cycle = None

    def _in_window(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        if not cycle.retry_due(now):
            return
        if cycle.idle:
            started = self._journal.happened(EventKind.PREFETCH_STARTED, cycle.session)
            if started:
                self._event(now, EventKind.RETRY, cycle.session, "listing the store's symbols")
            else:
                self._event(now, EventKind.PREFETCH_STARTED, cycle.session,
                            f"window of {self.config.window} before the open")
            self._begin(cycle)
        elif cycle.has_failures:
            self._retry(cycle, now)

    def _while_open(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        """A tick after the open: retry what failed, with backoff, until the close."""
        if not cycle.retry_due(now):
            return
        if cycle.has_failures:
            self._retry(cycle, now)
        elif cycle.idle:
            self._begin(cycle)

    def _at_open(self, cycle: Cycle, now: pendulum.DateTime, perf: float) -> None:
        if cycle.opened:
            self._while_open(cycle, now)
            return
        cycle.opened = True
        # The open starts a fresh backoff: the fallback tries at once, then soon.
        cycle.reset_backoff()
        served, self._served = self._served, None
        if served is not None and served.session == cycle.session and cycle.load is None:
            self._adopt(cycle, served, now)
            return
        cycle.open_perf = perf
        ready = cycle.snapshot is not None and cycle.load is not None and cycle.load.complete
        if ready and cycle.snapshot is not None:
            if self.config.auto_activate:
                cycle.pending = cycle.snapshot
                self.outbox.append(SendActivate(cycle.snapshot, perf))
            return
        cycle.fallback = True
        self._journal.update(fallbacks=self._status.fallbacks + 1)
        why = cycle.why_not_ready(enabled=self.config.enabled)
        self._event(now, EventKind.FALLBACK, cycle.session, why)
        serving = self._status.serving
        if self.config.auto_activate and serving is not None and serving != cycle.session:
            self.outbox.append(SendRetire(cycle.session))
            self._event(now, EventKind.RETIRED, serving,
                        "no longer served: its session is over and the new one has no data yet")
        if cycle.idle:
            self._begin(cycle)
        elif cycle.has_failures:
            self._retry(cycle, now)
