"""How the planner loads: starting, adopting, retrying, finishing one cycle's load.

:class:`LoadSteps` is the part of :class:`~preopen.actors._planner.Planner`
that drives a cycle's :class:`~preopen.actors._prefetch.Prefetch`: it holds
no state of its own (the planner's attributes, declared below, are its
state) and, like the planner, does no I/O: it leaves commands in
``outbox``. It also keeps the history helpers both halves use.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from preopen.actors._plan import Cycle, PlanConfig, SendActivate, SendBatch, SendList
from preopen.actors._prefetch import Prefetch
from preopen.actors._status import EventKind, RuntimeStatus

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    import pendulum

    from preopen.actors._journal import Journal
    from preopen.actors._plan import Assembler, Command
    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot

__all__ = ["LoadSteps"]


class LoadSteps:
    """The load steps of the planner (a base class: the state is the planner's)."""

    config: PlanConfig
    calendar: ExchangeCalendar | None
    cycle: Cycle | None
    now: pendulum.DateTime | None
    symbols: frozenset[str] | None
    outbox: list[Command]
    collect: bool
    _assemble: Assembler
    _empty: Callable[[str, str], Bars]
    _ids: Iterator[int]
    _loader_rr: Iterator[int]
    _listed: tuple[str, ...] | None
    _journal: Journal

    def _begin(self, cycle: Cycle) -> None:
        cycle.load_started = time.perf_counter()
        if self.symbols is None:
            self._request_listing(cycle)
        else:
            self._start_load(cycle, tuple(self.symbols))

    def _request_listing(self, cycle: Cycle) -> None:
        request_id = next(self._ids)
        cycle.listing = request_id
        self.outbox.append(SendList(next(self._loader_rr), request_id))

    def _adopt(self, cycle: Cycle, served: SessionSnapshot, now: pendulum.DateTime) -> None:
        """Take over the snapshot an earlier incarnation served for this session.

        Its bars count as loaded, so that only what it lacks (failed keys,
        symbols added meanwhile) is loaded, into a follow-up snapshot.
        """
        load = self._new_load(cycle)
        load.adopt(served.data)
        cycle.snapshot = cycle.served = served
        self._event(now, EventKind.RESTART, cycle.session,
                    f"the snapshot served ({len(served.symbols)} symbols) is adopted")
        if self.symbols is None:
            self._request_listing(cycle)
        elif load.add(self.symbols, cycle.spec.intervals):
            self._pump()

    def _new_load(self, cycle: Cycle) -> Prefetch[Bars]:
        if cycle.load is None:
            cycle.load = Prefetch(
                loaders=self.config.loaders,
                batch_size=self.config.batch_size,
                max_attempts=self.config.max_attempts,
                empty=self._empty,
                per_loader=self.config.per_loader,
                ids=self._ids,
                keep=self.config.keep,
            )
            if cycle.load_started is None:
                cycle.load_started = time.perf_counter()
        return cycle.load

    def _start_load(self, cycle: Cycle, symbols: tuple[str, ...]) -> None:
        load = self._new_load(cycle)
        added = load.add(symbols, cycle.spec.intervals)
        # Done at once: nothing to load at all (an empty set), unless the load
        # was adopted from a served snapshot that already has everything.
        if load.done and (added or cycle.served is None):
            self._finish(cycle, time.perf_counter())

    def _retry(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        assert cycle.load is not None  # noqa: S101 - callers check
        count = cycle.load.retry_failed()
        cycle.retry_at = None
        self._event(now, EventKind.RETRY, cycle.session,
                    f"retrying {count} failed keys (attempt round {cycle.retries + 1})")

    def _back_off(self, cycle: Cycle) -> pendulum.DateTime | None:
        """Schedule the next retry of ``cycle`` with exponential backoff; return when."""
        if self.now is None:
            return None
        return cycle.back_off(self.now, self.config.check_interval)

    def _progressed(self, cycle: Cycle) -> None:
        load = cycle.load
        if load is None:
            return
        if load.done:
            self._finish(cycle, time.perf_counter())
        else:
            self._pump()

    def _finish(self, cycle: Cycle, perf: float) -> None:
        load = cycle.load
        calendar = self.calendar
        if load is None or calendar is None or self.now is None:
            return
        wanted = self.symbols if self.symbols is not None else self._listed
        snapshot = self._assemble(cycle.spec, load.data(wanted), calendar, self.now)
        cycle.snapshot = snapshot
        self.collect = self.collect or not cycle.opened
        progress = load.progress
        seconds = perf - cycle.load_started if cycle.load_started is not None else None
        self._journal.update(prefetch_seconds=seconds)
        summary = f"{progress.done}/{progress.total} keys, {load.bars_loaded} bars"
        if load.complete:
            cycle.reset_backoff()
            self._event(self.now, EventKind.PREFETCH_DONE, cycle.session, f"{summary}, complete")
        else:
            when = self._back_off(cycle)
            again = f"; retrying at {when.isoformat()}" if when is not None else ""
            self._event(self.now, EventKind.PREFETCH_FAILED, cycle.session,
                        f"{summary}, {progress.failed} keys failed "
                        f"({self._status.last_error or 'unknown error'}){again}")
            if progress.done == 0 and progress.total > 0:
                # Nothing loaded at all (the store is down): serving an empty
                # snapshot would tell the host the session has no data. Keep
                # retrying; the first load that succeeds is activated.
                return
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

    @property
    def _status(self) -> RuntimeStatus:
        return self._journal.status

    def _event(self, at: pendulum.DateTime | None, kind: EventKind, session: dt.date | None,
               detail: str) -> None:
        self._journal.event(at if at is not None else self.now, kind, session, detail)

    def _error(self, at: pendulum.DateTime | None, session: dt.date | None, detail: str,
               *, kind: EventKind = EventKind.ERROR) -> None:
        self._journal.error(at if at is not None else self.now, session, detail, kind=kind)
