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
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.calendar.timing import (
    horizon_warning,
    next_phase_change,
    prefetch_start,
    target_session,
)
from preopen.errors import DateOutOfRangeError
from preopen.model import Bars
from preopen.planning.cycle import Cycle, load_spec
from preopen.planning.incremental import Reuse, Served
from preopen.planning.journal import Journal
from preopen.planning.orders import (
    Activate,
    ChildKey,
    ListSymbols,
    LoadBatch,
    Retire,
    ReuseCheck,
    Role,
)
from preopen.planning.prefetch import Batch, Prefetch
from preopen.status import EventKind, RuntimeStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.model import SessionSnapshot
    from preopen.settings import Settings

__all__ = ["PER_LOADER", "Planner"]

log = logging.getLogger("preopen")

#: The most batches in flight on one loader: its next batch is always queued.
PER_LOADER = 2

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

        ``monotonic`` is the wall clock that stalls are measured with
        (default ``time.monotonic``; tests inject their own).
        """
        self.settings = settings
        self._on_frozen = on_frozen
        self._monotonic = monotonic if monotonic is not None else time.monotonic
        # A load waiting longer than this (wall seconds) is reported stalled.
        self.stall_after = settings.load_timeout_s / 4
        # Snapshots frozen and not yet handed to the publisher (publish_dir set).
        self.to_publish: list[SessionSnapshot] = []
        self._horizon_warned: set[dt.date] = set()
        shard = settings.shard_or_none
        # The host's shard: which symbols it loads (None: every one).
        self._keep = shard.keeps if shard is not None else None
        self.symbols = symbols
        self.calendar: ExchangeCalendar | None = None
        self.cycle: Cycle | None = None
        self.outbox: list[tuple[ChildKey, object]] = []
        # Set when a snapshot was frozen before its open: the actor then runs
        # a full garbage collection, so that none is pending at the open.
        self.collect = False
        self.now: pendulum.DateTime | None = None
        self._ids = itertools.count(1)
        self._listed: tuple[str, ...] | None = None
        self._loader_rr = itertools.cycle(range(settings.loaders))
        self._served = served
        # The snapshot the last cycle froze and served, for incremental reuse.
        self._reusable: Served | None = None
        serving = served.session if served is not None else None
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
            target = target_session(now, calendar, self.settings.window)
        except DateOutOfRangeError as exc:
            self._out_of_range(now, exc)
            return
        if cycle is None or cycle.session != target:
            if cycle is not None and now >= cycle.spec.close:
                self._event(now, EventKind.SESSION_ENDED, cycle.session,
                            f"closed at {cycle.spec.close.isoformat()}")
            self._close_cycle()
            try:
                cycle = self._plan(calendar, target, now)
            except DateOutOfRangeError as exc:
                self._out_of_range(now, exc)
                return
        if now >= cycle.spec.open:
            self._at_open(cycle, now, perf)
        elif self.settings.enabled and now >= cycle.prefetch_start:
            self._in_window(cycle, now)
        self._pump()
        self._check_stalls(now)

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
        added = self._add_keys(cycle, cycle.load, symbols)
        if added:
            self._event(now, EventKind.SYMBOLS, cycle.session, f"{added} keys added to the load")
            self._pump()
        else:
            self._refreeze(cycle, symbols)  # symbols removed, or re-added from the load

    def symbols_listed(self, request_id: int, symbols: tuple[str, ...]) -> None:
        """Take the store's symbols (when the active set is every symbol)."""
        cycle = self.cycle
        if cycle is None or cycle.listing != request_id:
            return
        cycle.listing = None
        self._listed = symbols
        self._start_load(cycle, symbols)
        self._pump()

    def loaded(self, request_id: int, bars: Mapping[str, Bars],
               reloaded: frozenset[str] = frozenset()) -> None:
        """Take a loader's bars (``reloaded``: symbols loaded in full, their reuse dropped)."""
        cycle = self.cycle
        if cycle is None or cycle.load is None:
            return
        self._drop_reused(cycle, request_id, reloaded)
        if cycle.load.loaded(request_id, bars) is None:
            return  # a late answer for an earlier cycle or a re-sent batch
        self._progressed(cycle)

    def load_failed(self, request_id: int, error: str, *, transient: bool,
                    store_wide: bool = False) -> None:
        """Take a loader's failure (``store_wide``: never split; see Prefetch.failed)."""
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
        if cycle.load is None:
            return
        self._stalled_on_failure(cycle, cycle.load, request_id)
        fast = cycle.load.failed_fast
        if cycle.load.failed(request_id, error, transient=transient,
                             store_wide=store_wide) is None:
            return
        self._journal.update(last_error=error)
        if store_wide:
            self._store_wide(cycle, error, cycle.load.failed_fast - fast, transient=transient)
        self._progressed(cycle)

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
            if cycle.load is not None:
                lost = cycle.load.loader_lost(child.index)
                if lost:
                    self._event(self.now, EventKind.RETRY, cycle.session,
                                f"{lost} batches of {child} handed to live loaders")
                self._progressed(cycle)
            if cycle.listing is not None:
                self._request_listing(cycle)
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
        latest = now + self.settings.check_interval
        cycle = self.cycle
        if cycle is not None and cycle.retry_at is not None and cycle.retry_at > now:
            latest = min(latest, cycle.retry_at)
        if cycle is not None and cycle.load is not None and cycle.load.in_flight:
            # Loads in flight: look for stalls every stall_after (see _check_stalls).
            latest = min(latest, now + dt.timedelta(seconds=self.stall_after))
        calendar = self.calendar
        if calendar is None:
            return latest
        cached = self._change
        if cached is not None and cached[0] is calendar and cached[1] <= now < cached[2]:
            return min(latest, cached[2])
        try:
            change = next_phase_change(now, calendar, self.settings.window).in_tz("UTC")
        except DateOutOfRangeError:
            return latest
        self._change = (calendar, now, change)
        return min(latest, change)

    def status(self, now: pendulum.DateTime | None = None) -> RuntimeStatus:
        """The status as of ``now`` (default: the last tick)."""
        now = now if now is not None else self.now
        return self._journal.view(now, self.calendar, self.settings.window, self.cycle)

    # --- the cycle -------------------------------------------------------------

    def _plan(self, calendar: ExchangeCalendar, session: dt.date, now: pendulum.DateTime) -> Cycle:
        spec = load_spec(calendar, session, self.settings.trailing_days, self.settings.intervals)
        starts = prefetch_start(calendar, session, self.settings.window)
        warning = horizon_warning(calendar, session, self.settings.horizon_warning_sessions)
        cycle = Cycle(spec, starts)
        self.cycle = cycle
        self._event(now, EventKind.PLANNED, session,
                    f"opens {spec.open.isoformat()}, prefetch from {starts.isoformat()}, "
                    f"{len(spec.trailing)} trailing sessions "
                    f"{spec.trailing[0].isoformat()}..{spec.trailing[-1].isoformat()}")
        if warning is not None:
            self._warn_horizon(session, warning, now)
        return cycle

    def _still_valid(self, cycle: Cycle, calendar: ExchangeCalendar) -> bool:
        try:
            if not calendar.is_session(cycle.session):
                return False
            spec = load_spec(calendar, cycle.session, self.settings.trailing_days,
                             self.settings.intervals)
        except DateOutOfRangeError:
            return False
        return spec == cycle.spec

    def _close_cycle(self) -> None:
        if self.cycle is not None:
            self._remember_served(self.cycle)
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
            self._retry(cycle, now)

    def _at_open(self, cycle: Cycle, now: pendulum.DateTime, perf: float) -> None:  # noqa: C901 - the open's cases, in order
        if cycle.opened:
            # A tick after the open: retry what failed, with backoff, until the close.
            if not cycle.retry_due(now):
                return
            if cycle.has_failures:
                self._retry(cycle, now)
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
            self._retry(cycle, now)

    # --- the load ----------------------------------------------------------------

    def _begin(self, cycle: Cycle) -> None:
        cycle.load_started = time.perf_counter()
        if self.symbols is None:
            self._request_listing(cycle)
        else:
            self._start_load(cycle, tuple(self.symbols))

    def _request_listing(self, cycle: Cycle) -> None:
        request_id = next(self._ids)
        cycle.listing = request_id
        loader = ChildKey(Role.LOADER, next(self._loader_rr))
        self.outbox.append((loader, ListSymbols(request_id)))

    def _adopt(self, cycle: Cycle, served: SessionSnapshot, now: pendulum.DateTime) -> None:
        """Take over the snapshot an earlier incarnation served for this session.

        Its bars count as loaded, so that only what it lacks (failed keys,
        symbols added meanwhile) is loaded, into a follow-up snapshot.
        """
        load = self._new_load(cycle)
        load.adopt(served.data)
        cycle.adopted = True
        cycle.snapshot = cycle.served = served
        cycle.symbol_count = len(served.symbols)
        self._event(now, EventKind.RESTART, cycle.session,
                    f"the snapshot served ({cycle.symbol_count} symbols) is adopted")
        if self.symbols is None:
            self._request_listing(cycle)
        elif load.add(self.symbols, cycle.spec.intervals):
            self._pump()

    def _new_load(self, cycle: Cycle) -> Prefetch[Bars]:
        if cycle.load is None:
            cycle.load = Prefetch(
                loaders=self.settings.loaders,
                batch_size=self.settings.batch_size,
                max_attempts=self.settings.max_attempts,
                empty=Bars.empty,
                per_loader=PER_LOADER,
                ids=self._ids,
                keep=self._keep,
            )
            if cycle.load_started is None:
                cycle.load_started = time.perf_counter()
        return cycle.load

    def _start_load(self, cycle: Cycle, symbols: tuple[str, ...]) -> None:
        fresh = cycle.load is None
        load = self._new_load(cycle)
        if fresh:
            self._plan_reuse(cycle, symbols)
        added = self._add_keys(cycle, load, symbols)
        # Done at once: nothing to load at all (an empty set), unless the load
        # was adopted from a served snapshot that already has everything.
        if load.done and (added or cycle.served is None):
            self._finish(cycle, time.perf_counter())
        elif not added:
            self._refreeze(cycle, symbols)  # every symbol again, all loaded already

    def _refreeze(self, cycle: Cycle, wanted: Collection[str]) -> None:
        """Freeze again if the wanted symbols the load holds are not the snapshot's."""
        load, snapshot = cycle.load, cycle.snapshot
        if load is None or not load.done or snapshot is None:
            return
        present = {symbol for symbol, _ in load.data(wanted)}
        if present != set(snapshot.symbols):
            self._finish(cycle, time.perf_counter())

    def _retry(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        assert cycle.load is not None  # noqa: S101 - callers check
        count = cycle.load.retry_failed()
        cycle.retry_at = None
        self._event(now, EventKind.RETRY, cycle.session,
                    f"retrying {count} failed keys (attempt round {cycle.retries + 1})")

    def _back_off(self, cycle: Cycle) -> pendulum.DateTime | None:
        if self.now is None:
            return None
        return cycle.back_off(self.now, self.settings.check_interval)

    def _progressed(self, cycle: Cycle) -> None:
        load = cycle.load
        if load is None:
            return
        if load.done:
            self._finish(cycle, time.perf_counter())
        else:
            self._pump()

    def _finish(self, cycle: Cycle, perf: float) -> None:
        """Validate and freeze what the load holds; activate it if the session is open."""
        load, calendar, now = cycle.load, self.calendar, self.now
        if load is None or calendar is None or now is None:
            return
        wanted = self.symbols if self.symbols is not None else self._listed
        snapshot = cycle.freeze(load.data(wanted), calendar, now)
        if cycle.reuse is not None:
            cycle.reuse.settle(load, snapshot)
        self._after_freeze(cycle, snapshot, now)
        if self._on_frozen is not None:
            try:
                self._on_frozen(snapshot)
            except Exception as exc:
                log.exception("the on_frozen callback failed for %s", cycle.session)
                self._error(now, cycle.session, f"the on_frozen callback failed: {exc!r}")
        self.collect = self.collect or not cycle.opened
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
            when = self._back_off(cycle)
            again = f"; retrying at {when.isoformat()}" if when is not None else ""
            last_error = self._journal.status.last_error or "unknown error"
            self._event(now, EventKind.PREFETCH_FAILED, cycle.session,
                        f"{summary}, {progress.failed} keys failed ({last_error}){again}")
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
        self.outbox.append((SESSION_DATA, Activate(snapshot, perf, count)))

    def _pump(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.load is None:
            return
        spec = cycle.spec
        for loader, batch in cycle.load.dispatch(self._monotonic()):
            start = batch.start if batch.start is not None else spec.start
            self.outbox.append((ChildKey(Role.LOADER, loader),
                                LoadBatch(batch, start, spec.end, self._reuse_check(cycle, batch))))

    # --- incremental prefetch (see preopen.planning.incremental) -------------------

    def _remember_served(self, cycle: Cycle) -> None:
        """Keep the snapshot a closing cycle froze and served, for the next cycle to reuse."""
        served = cycle.served
        if served is None or cycle.adopted or self.settings.refresh != "incremental":
            return
        self._reusable = Served(cycle.spec, served)

    def _plan_reuse(self, cycle: Cycle, symbols: Collection[str]) -> None:
        """Decide, as a cycle's load starts, what it reuses of the served snapshot."""
        served, self._reusable = self._reusable, None
        if cycle.adopted or self.settings.refresh != "incremental":
            return
        cycle.reuse = Reuse.plan(served, cycle.spec, symbols)

    def _reuse_check(self, cycle: Cycle, batch: Batch) -> ReuseCheck | None:
        """With ``verify_reused``: what a loader checks before the batch's reused bars are kept."""
        reuse = cycle.reuse
        if not self.settings.verify_reused or reuse is None or batch.start is None:
            return None
        reused = {s: reuse.bars[s, batch.interval] for s in batch.symbols
                  if (s, batch.interval) in reuse.bars}
        return ReuseCheck(cycle.spec.start, MappingProxyType(reused)) if reused else None

    def _drop_reused(self, cycle: Cycle, request_id: int, reloaded: frozenset[str]) -> None:
        """Forget the reused bars of symbols a loader found corrected and loaded in full."""
        reuse, load = cycle.reuse, cycle.load
        if not reloaded or reuse is None or load is None:
            return
        interval = load.interval_of(request_id)
        if interval is not None:
            reuse.drop(reloaded, interval)

    def _add_keys(self, cycle: Cycle, load: Prefetch[Bars], symbols: Collection[str]) -> int:
        """Queue ``symbols``' keys, from the split for those whose older bars are reused."""
        reuse = cycle.reuse
        if reuse is None:
            return load.add(symbols, cycle.spec.intervals)
        return reuse.add(load, symbols, cycle.spec.intervals)

    # --- watching: stalls, store-wide failures, the horizon, publishing ---------

    def _check_stalls(self, now: pendulum.DateTime) -> None:
        """Report the batches waiting on the store for ``stall_after`` wall seconds or more.

        Checked on the scheduler's ticks (``next_wake`` asks for one every
        ``stall_after`` while loads are in flight), measured in wall time.
        """
        cycle = self.cycle
        if cycle is None or cycle.load is None or not cycle.load.in_flight:
            return
        for batch, waited in cycle.load.stalled(self._monotonic(), self.stall_after):
            self._stall_event(now, cycle, batch, waited, "still waiting on the store")

    def _stalled_on_failure(self, cycle: Cycle, load: Prefetch[Bars], request_id: int) -> None:
        stalled = load.stalled_on_failure(request_id, self._monotonic(), self.stall_after)
        if stalled is not None:
            self._stall_event(self.now, cycle, stalled[0], stalled[1], "failed after waiting")

    def _stall_event(self, now: pendulum.DateTime | None, cycle: Cycle, batch: Batch,
                     waited: float, what: str) -> None:
        first = batch.symbols[0] if batch.symbols else "-"
        detail = (f"load of {batch.interval} x {len(batch.symbols)} symbols from {first} "
                  f"(request {batch.request_id}, attempt {batch.attempt}) {what}: "
                  f"{waited:.1f} sec (deadline {self.settings.load_timeout_s:g} sec)")
        log.warning("load-stalled: %s", detail)
        self._event(now, EventKind.LOAD_STALLED, cycle.session, detail)

    def _store_wide(self, cycle: Cycle, error: str, failed_fast: int, *,
                    transient: bool) -> None:
        """Say, once per round, that a store-wide failure ended it (never a split).

        A transient one (locked, timed out, connection) only fails its own
        batch, retried on the backoff; the ``prefetch-failed`` event says so.
        """
        if transient or not failed_fast:
            return
        self._event(self.now, EventKind.STORE_WIDE, cycle.session,
                    f"the round fails at once ({failed_fast} queued batches failed without "
                    f"a store call), retried on the backoff: {error}")

    def _warn_horizon(self, session: dt.date, warning: str, now: pendulum.DateTime) -> None:
        """One event and one log line per planned session near the calendar's horizon."""
        if session in self._horizon_warned or self._journal.happened(
                EventKind.HORIZON_WARNING, session):
            return
        self._horizon_warned.add(session)
        log.warning("horizon-warning: %s", warning)
        self._event(now, EventKind.HORIZON_WARNING, session, warning)

    def _out_of_range(self, now: pendulum.DateTime, exc: DateOutOfRangeError) -> None:
        """Planning is refused (past the calendar's horizon): say so once, plan nothing.

        Every later tick tries again (an amended or replaced calendar may
        cover the date), but the same refusal is recorded only once.
        """
        detail = f"no session to plan: {exc}"
        if self._journal.status.last_error == detail:
            return
        log.error("%s", detail)
        self._error(now, None, detail)

    def _after_freeze(self, cycle: Cycle, snapshot: SessionSnapshot,
                      now: pendulum.DateTime) -> None:
        """Report closed days' bars dropped; queue the snapshot for publishing."""
        if cycle.closed_days_dropped:
            self._event(now, EventKind.CLOSED_DAYS, cycle.session,
                        f"{cycle.closed_days_dropped} bars on days the calendar closes "
                        "(an ad-hoc closure or amendment) dropped from the snapshot")
        if self.settings.publish_dir:
            # Only the newest matters to readers: one not yet handed over is replaced.
            self.to_publish[:] = [snapshot]

    def published(self, session: dt.date, name: str, nbytes: int, seconds: float) -> None:
        """The publisher wrote ``session``'s snapshot to ``publish_dir``."""
        status = self._journal.status
        self._journal.update(snapshots_published=status.snapshots_published + 1)
        self._event(self.now, EventKind.PUBLISHED, session,
                    f"{name}: {nbytes} bytes in {seconds:.3f} sec")

    def publish_failed(self, session: dt.date, error: str) -> None:
        """The publisher could not write ``session``'s snapshot (serving goes on)."""
        status = self._journal.status
        self._journal.update(publish_failures=status.publish_failures + 1)
        log.warning("publish-failed: %s: %s", session, error)
        self._event(self.now, EventKind.PUBLISH_FAILED, session, error)

    # --- history ---------------------------------------------------------------

    def _event(self, at: pendulum.DateTime | None, kind: EventKind, session: dt.date | None,
               detail: str) -> None:
        self._journal.event(at if at is not None else self.now, kind, session, detail)

    def _error(self, at: pendulum.DateTime | None, session: dt.date | None, detail: str,
               *, kind: EventKind = EventKind.ERROR) -> None:
        self._journal.error(at if at is not None else self.now, session, detail, kind=kind)
