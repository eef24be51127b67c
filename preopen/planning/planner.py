"""The scheduler's decisions, as plain single-threaded logic.

:class:`Planner` is everything the SchedulerActor decides, with no actor and
no I/O in it: the actor feeds it what happens (ticks, replies, changes) and
tells the messages it leaves in :attr:`Planner.outbox`, each with the key of
the child it is for. Timing comes only from :mod:`preopen.calendar.timing`.

One *cycle* per target session (the session in progress, else the next to
open; :class:`~preopen.planning.cycle.Cycle`): planned when it becomes the
target, loaded in the window (failed keys retried with backoff), validated
and frozen when the load is done, activated at the open tick (or, without a
complete prefetch, as soon as a load with at least one key is done: the
fallback), replaced by the next cycle at the close. ``docs/architecture.md``
walks one session through it. Activation never happens before the cycle's
open tick, and only for the cycle's own session.

The planner holds the objects it delegates to, each plain and tested on its
own: its :class:`~preopen.planning.schedule.Schedule` (the calendar's
answers, the horizon), its :class:`~preopen.planning.loading.Loading` (each
cycle's load across the loaders, with the
:class:`~preopen.planning.incremental.IncrementalPrefetch` and the
:class:`~preopen.planning.watch.LoadWatch`), its
:class:`~preopen.planning.publishing.Publishing` (where a frozen snapshot
goes besides the swap) and its :class:`~preopen.planning.journal.Journal`
(the status counters and the history).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from preopen.planning.incremental import IncrementalPrefetch
from preopen.planning.journal import Journal
from preopen.planning.loading import Loading
from preopen.planning.orders import Activate, Arm, ChildKey, Disarm, Retire, Role
from preopen.planning.publishing import Publishing
from preopen.planning.schedule import Schedule
from preopen.planning.watch import LoadWatch
from preopen.status import EventKind, RuntimeStatus

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot
    from preopen.planning.cycle import Cycle
    from preopen.settings import Settings

__all__ = ["Planner"]

SESSION_DATA = ChildKey(Role.SESSION_DATA)


class Planner:
    """The scheduler's state and decisions.

    Args:
        settings: the runtime's settings.
        symbols: the active set (``None``: every symbol in the store).
        served: the snapshot already served, if any: a restarted scheduler
            adopts it when its session is the one in progress.
        restore: the last status published, to carry counters and history
            over a restart of the scheduler.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        symbols: frozenset[str] | None = None,
        served: SessionSnapshot | None = None,
        restore: RuntimeStatus | None = None,
        on_frozen: Callable[[SessionSnapshot], object] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """Create a planner with no calendar yet.

        ``on_frozen`` is called with each snapshot frozen (see
        :class:`~preopen.planning.publishing.Publishing`); ``monotonic`` is
        the wall clock that stalls are measured with (default
        ``time.monotonic``; tests inject their own).
        """
        self.settings = settings
        self.symbols = symbols
        self.calendar: ExchangeCalendar | None = None
        self.cycle: Cycle | None = None
        self.outbox: list[tuple[ChildKey, object]] = []
        self.now: pendulum.DateTime | None = None
        self._served = served
        serving = served.session if served is not None else None
        self._journal = journal = Journal(restore if restore is not None
                                          else RuntimeStatus(serving=serving))
        self._schedule = Schedule(settings, journal)
        self._watch = LoadWatch(journal, settings.load_timeout_s, monotonic)
        self._incremental = IncrementalPrefetch(enabled=settings.refresh == "incremental",
                                                verify=settings.verify_reused)
        self._loading = Loading(settings, outbox=self.outbox, journal=journal,
                                incremental=self._incremental, watch=self._watch)
        self._publishing = Publishing(journal, publish=bool(settings.publish_dir),
                                      on_frozen=on_frozen)

    # --- inputs ----------------------------------------------------------------

    def set_calendar(self, calendar: ExchangeCalendar, now: pendulum.DateTime) -> None:
        """Take a (possibly amended) calendar and re-plan at ``now``."""
        amended = self.calendar is not None
        self.calendar = calendar
        cycle = self.cycle
        if cycle is not None and not self._schedule.holds(cycle, calendar):
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
            return
        target = self._schedule.target(now, calendar)
        if target is None:
            return  # past the calendar's horizon: recorded once, tried again each tick
        if cycle is None or cycle.session != target:
            if cycle is not None and now >= cycle.spec.close:
                self._event(now, EventKind.SESSION_ENDED, cycle.session,
                            f"closed at {cycle.spec.close.isoformat()}")
            self._close_cycle()
            cycle = self.cycle = self._schedule.plan(calendar, target, now)
            if cycle is None:
                return
        if now >= cycle.spec.open:
            self._at_open(cycle, now, perf)
        elif self.settings.enabled and now >= cycle.prefetch_start:
            self._in_window(cycle, now)
        self._watch.check(now, self.cycle)

    def close(self, timeout: float) -> None:
        """The runtime stops: end the current cycle's fault-in threads (see Cycle.close)."""
        if self.cycle is not None:
            self.cycle.close(timeout)

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
            self._loading.request_listing(cycle)
        elif self._loading.add(cycle, symbols, now):
            self._finish(cycle, time.perf_counter())

    def symbols_listed(self, request_id: int, symbols: tuple[str, ...]) -> None:
        """Take the store's symbols (when the active set is every symbol)."""
        cycle = self.cycle
        if cycle is not None and self._loading.listed_by_store(cycle, request_id, symbols):
            self._finish(cycle, time.perf_counter())

    def loaded(self, request_id: int, bars: Mapping[str, Bars],
               reloaded: frozenset[str] = frozenset()) -> None:
        """Take a loader's bars (``reloaded``: symbols loaded in full, their reuse dropped)."""
        cycle = self.cycle
        if cycle is not None and self._loading.loaded(cycle, request_id, bars, reloaded):
            self._finish(cycle, time.perf_counter())

    def load_failed(self, request_id: int, error: str, *, transient: bool,
                    store_wide: bool = False) -> None:
        """Take a loader's failure (``store_wide``: never split; see Prefetch.failed)."""
        cycle = self.cycle
        if cycle is not None and self._loading.failed(cycle, request_id, error, self.now,
                                                      transient=transient, store_wide=store_wide):
            self._finish(cycle, time.perf_counter())

    def activated(self, session: dt.date, symbols: int, latency_s: float) -> None:
        """The SessionDataActor now serves ``session``'s snapshot."""
        cycle = self.cycle
        fallback_s = None
        if cycle is not None and cycle.session == session and cycle.pending is not None:
            cycle.served, cycle.pending = cycle.pending, None
            if cycle.fallback and cycle.open_perf is not None:
                fallback_s = time.perf_counter() - cycle.open_perf
        self._journal.activated(self.now, session, symbols, latency_s, fallback_s)

    def activation_refused(self, session: dt.date, reason: str) -> None:
        """The SessionDataActor refused ``session``'s snapshot: re-plan and re-fetch."""
        self._error(self.now, session, f"activation refused: {reason}", kind=EventKind.REFUSED)
        cycle = self.cycle
        if cycle is not None and cycle.session == session:
            cycle.pending = None
            self._close_cycle()

    def child_restarted(self, child: ChildKey, restarts: int, error: str,
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
        if child.role == Role.LOADER and child.index is not None:
            if self._loading.loader_lost(cycle, child, self.now):
                self._finish(cycle, time.perf_counter())
            if cycle.listing is not None:
                self._loading.request_listing(cycle)
        if child.role == Role.SESSION_DATA and cycle.pending is not None:
            self._activate(cycle, cycle.pending, time.perf_counter())

    def callback_failed(self, callback: str, error: str, now: pendulum.DateTime) -> None:
        """A host callback raised: ``last_error`` and an ``error`` event."""
        cycle = self.cycle
        self._error(now, cycle.session if cycle else None,
                    f"the {callback} callback failed: {error}")

    def activate_now(self) -> SessionSnapshot | None:
        """Activate the prepared snapshot of the session in progress (host's request)."""
        cycle = self.cycle
        if cycle is None or not cycle.opened or cycle.snapshot is None:
            return None
        self._activate(cycle, cycle.snapshot, time.perf_counter())
        return cycle.snapshot

    # --- outputs ---------------------------------------------------------------

    def review_arm(self) -> None:
        """Arm the cycle's snapshot once it is ready before the open; withdraw it once not.

        Ready: frozen from a complete load, ``auto_activate`` on. Called before
        the outbox is sent, whatever was handled: a symbol added before the
        open makes the load incomplete again, and the armed snapshot (which
        lacks it) is withdrawn in the same breath; the refreeze arms anew.
        """
        cycle = self.cycle
        if cycle is None or cycle.opened:
            return
        load, calendar, armed = cycle.load, self.calendar, cycle.armed
        ready = (self.settings.auto_activate and load is not None and load.complete
                 and not cycle.adopted and calendar is not None)
        snapshot = cycle.snapshot if ready else None
        if snapshot is None or calendar is None:
            if armed is not None:
                self.outbox.append((SESSION_DATA, Disarm(cycle.session)))
                cycle.armed = None
            return
        if armed is not None and armed.snapshot is snapshot and armed.calendar is calendar:
            return
        spec = cycle.spec
        cycle.armed = Arm(snapshot, spec.open, spec.close, cycle.symbol_count, calendar)
        self.outbox.append((SESSION_DATA, cycle.armed))

    @property
    def busy(self) -> bool:
        """A load, a listing or an activation is unanswered."""
        cycle = self.cycle
        return self.calendar is None or (cycle is not None and cycle.busy)

    def next_wake(self, now: pendulum.DateTime) -> pendulum.DateTime:
        """When the scheduler wants its next tick: the next phase change, or the check interval."""
        latest = now + self.settings.check_interval
        cycle = self.cycle
        if cycle is not None and cycle.retry_at is not None and cycle.retry_at > now:
            latest = min(latest, cycle.retry_at)
        look = self._watch.next_look(now, cycle)  # loads in flight: look for stalls
        if look is not None:
            latest = min(latest, look)
        calendar = self.calendar
        change = self._schedule.next_change(now, calendar) if calendar is not None else None
        return latest if change is None else min(latest, change)

    def status(self, now: pendulum.DateTime | None = None) -> RuntimeStatus:
        """The status as of ``now`` (default: the last tick)."""
        now = now if now is not None else self.now
        return self._journal.view(now, self.calendar, self.settings.window, self.cycle)

    # --- the cycle -------------------------------------------------------------

    def _close_cycle(self) -> None:
        if self.cycle is not None:
            if self.cycle.armed is not None and not self.cycle.opened:
                self.outbox.append((SESSION_DATA, Disarm(self.cycle.session)))
            self._incremental.remember(self.cycle)
            self._journal.close(self.cycle)
        self.cycle = None

    def _in_window(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        if not cycle.retry_due(now):
            return
        if cycle.idle:
            if self._journal.happened(EventKind.PREFETCH_STARTED, cycle.session):
                self._event(now, EventKind.RETRY, cycle.session, "listing the store's symbols")
            else:
                self._event(now, EventKind.PREFETCH_STARTED, cycle.session,
                            f"window of {self.settings.window} before the open")
            self._begin(cycle)
        elif cycle.has_failures:
            self._loading.retry(cycle, now)

    def _at_open(self, cycle: Cycle, now: pendulum.DateTime, perf: float) -> None:  # noqa: C901 - the open's cases, in order
        if cycle.opened:
            # A tick after the open: retry what failed, with backoff, until the close.
            if not cycle.retry_due(now):
                return
            if cycle.has_failures:
                self._loading.retry(cycle, now)
            elif cycle.idle:
                self._begin(cycle)
            return
        cycle.opened = True
        # The open starts a fresh backoff: the fallback tries at once, then soon.
        cycle.reset_backoff()
        served, self._served = self._served, None
        if served is not None and served.session == cycle.session and cycle.load is None:
            self._adopt(cycle, served, now)
            return
        cycle.open_perf = perf
        snapshot = cycle.snapshot
        if snapshot is not None and cycle.load is not None and cycle.load.complete:
            if self.settings.auto_activate:
                self._activate(cycle, snapshot, perf)
            return
        cycle.fallback = True
        self._journal.update(fallbacks=self._journal.status.fallbacks + 1)
        self._event(now, EventKind.FALLBACK, cycle.session,
                    cycle.why_not_ready(enabled=self.settings.enabled))
        serving = self._journal.status.serving
        if self.settings.auto_activate and serving is not None and serving != cycle.session:
            self.outbox.append((SESSION_DATA, Retire(cycle.session)))
            self._event(now, EventKind.RETIRED, serving,
                        "no longer served: its session is over and the new one has no data yet")
        if cycle.idle:
            self._begin(cycle)
        elif cycle.has_failures:
            self._loading.retry(cycle, now)

    # --- the load (see preopen.planning.loading), the freeze, the activation ------

    def _begin(self, cycle: Cycle) -> None:
        if self._loading.begin(cycle, self.symbols):
            self._finish(cycle, time.perf_counter())

    def _adopt(self, cycle: Cycle, served: SessionSnapshot, now: pendulum.DateTime) -> None:
        """Take over the snapshot an earlier incarnation served for this session.

        Its bars count as loaded, so that only what it lacks (failed keys,
        symbols added meanwhile) is loaded, into a follow-up snapshot.
        """
        cycle.adopted = True
        cycle.snapshot = cycle.served = served
        cycle.symbol_count = len(served.symbols)
        self._event(now, EventKind.RESTART, cycle.session,
                    f"the snapshot served ({cycle.symbol_count} symbols) is adopted")
        self._loading.adopt(cycle, served.data, self.symbols)

    def _finish(self, cycle: Cycle, perf: float) -> None:
        """Validate and freeze what the load holds; activate it if the session is open."""
        load, calendar, now = cycle.load, self.calendar, self.now
        if load is None or calendar is None or now is None:
            return
        wanted = self.symbols if self.symbols is not None else self._loading.listed
        snapshot = cycle.freeze(load.data(wanted), calendar, now)
        if cycle.reuse is not None:
            cycle.reuse.settle(load, snapshot)
        if cycle.closed_days_dropped:
            self._event(now, EventKind.CLOSED_DAYS, cycle.session,
                        f"{cycle.closed_days_dropped} bars on days the calendar closes "
                        "(an ad-hoc closure or amendment) dropped from the snapshot")
        self._publishing.frozen(snapshot, now)
        progress = load.progress
        seconds = perf - cycle.load_started if cycle.load_started is not None else None
        self._journal.update(prefetch_seconds=seconds)
        summary = f"{progress.done}/{progress.total} keys, {load.bars_loaded} bars"
        if cycle.reuse is not None:
            summary += f" loaded, {cycle.reuse.describe()}"
        if load.complete:
            cycle.reset_backoff()
            self._event(now, EventKind.PREFETCH_DONE, cycle.session, f"{summary}, complete")
        else:
            when = cycle.back_off(now, self.settings.check_interval)
            last_error = self._journal.status.last_error or "unknown error"
            self._event(now, EventKind.PREFETCH_FAILED, cycle.session,
                        f"{summary}, {progress.failed} keys failed ({last_error}); "
                        f"retrying at {when.isoformat()}")
            if progress.done == 0 and progress.total > 0:
                # Nothing loaded at all (the store is down): serving an empty
                # snapshot would tell the host the session has no data. Keep
                # retrying; the first load that succeeds is activated.
                return
        if cycle.opened and self.settings.auto_activate:
            self._activate(cycle, snapshot, perf)

    def _activate(self, cycle: Cycle, snapshot: SessionSnapshot, perf: float) -> None:
        cycle.pending = snapshot
        count = cycle.symbol_count if snapshot is cycle.snapshot else len(snapshot.symbols)
        armed = cycle.armed is not None and snapshot is cycle.armed.snapshot
        self.outbox.append((SESSION_DATA, Activate(snapshot, perf, count, armed=armed)))

    # --- publishing (see preopen.planning.publishing) ---------------------------

    @property
    def to_publish(self) -> list[SessionSnapshot]:
        """Snapshots frozen and not yet handed to the publisher (``publish_dir`` set)."""
        return self._publishing.to_publish

    def published(self, session: dt.date, name: str, nbytes: int, seconds: float, *,
                  current: bool = True) -> None:
        """The publisher staged ``session``'s snapshot in ``publish_dir``, or made it current."""
        self._publishing.published(session, name, nbytes, seconds, self.now, current=current)

    def publish_failed(self, session: dt.date, error: str) -> None:
        """The publisher could not write ``session``'s snapshot (serving goes on)."""
        self._publishing.failed(session, error, self.now)

    # --- history ---------------------------------------------------------------

    def _event(self, at: pendulum.DateTime | None, kind: EventKind, session: dt.date | None,
               detail: str) -> None:
        self._journal.event(at if at is not None else self.now, kind, session, detail)

    def _error(self, at: pendulum.DateTime | None, session: dt.date | None, detail: str,
               *, kind: EventKind = EventKind.ERROR) -> None:
        self._journal.error(at if at is not None else self.now, session, detail, kind=kind)
