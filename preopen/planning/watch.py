"""The planner's watch on its loads: batches the store keeps waiting, rounds it ends at once.

:class:`LoadWatch` reports what the progress of a load does not show:

- a *stalled* batch: one in flight for ``stall_after`` wall seconds or more
  (a quarter of ``load_timeout_s``), reported with a ``load-stalled`` event
  and a log warning naming it, and again each time its wait has doubled
  (:meth:`~preopen.planning.prefetch.Prefetch.stalled`); one that fails
  after waiting that long is reported the same way if no check saw it;
- a *store-wide* failure that is not transient (a missing table): the round
  fails at once, its queued batches without a store call, and one
  ``store-wide`` event says how many.

Waits are wall-clock seconds (``time.monotonic``, injectable): a store's
slowness is real time, even under a simulated clock. When to look is market
time: :meth:`LoadWatch.next_look` asks the scheduler for a tick every
``stall_after`` while batches are in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from preopen.status import EventKind

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum

    from preopen.planning.cycle import Cycle
    from preopen.planning.journal import Journal
    from preopen.planning.prefetch import Batch

__all__ = ["LoadWatch"]

log = logging.getLogger("preopen")


class LoadWatch:
    """Stalls and store-wide failures of the planner's loads, as events in its journal.

    Args:
        journal: where the events go (the planner's).
        load_timeout_s: the store's deadline for one load; a batch waiting
            a quarter of it is stalled.
        monotonic: the wall clock batches are stamped and measured with
            (default ``time.monotonic``; tests inject their own).
    """

    def __init__(self, journal: Journal, load_timeout_s: float,
                 monotonic: Callable[[], float] | None = None) -> None:
        """Watch with ``journal``, against ``load_timeout_s``."""
        self._journal = journal
        self._deadline = load_timeout_s
        #: A batch waiting longer than this (wall seconds) is reported stalled.
        self.stall_after = load_timeout_s / 4
        #: The wall clock: batches are stamped with it when dispatched.
        self.wall: Callable[[], float] = monotonic if monotonic is not None else time.monotonic

    def next_look(self, now: pendulum.DateTime, cycle: Cycle | None) -> pendulum.DateTime | None:
        """When the scheduler should tick to look for stalls: None when nothing is in flight."""
        if cycle is None or cycle.load is None or not cycle.load.in_flight:
            return None
        return now + dt.timedelta(seconds=self.stall_after)

    def check(self, now: pendulum.DateTime, cycle: Cycle | None) -> None:
        """Report the batches waiting on the store for ``stall_after`` wall seconds or more.

        Checked on the scheduler's ticks (:meth:`next_look` asks for one every
        ``stall_after`` while loads are in flight), measured in wall time.
        """
        if cycle is None or cycle.load is None or not cycle.load.in_flight:
            return
        for batch, waited in cycle.load.stalled(self.wall(), self.stall_after):
            self._stalled(now, cycle, batch, waited, "still waiting on the store")

    def failing(self, now: pendulum.DateTime | None, cycle: Cycle, request_id: int) -> None:
        """Before a batch's failure is recorded: report it if it failed after stalling, unseen."""
        if cycle.load is None:
            return
        stalled = cycle.load.stalled_on_failure(request_id, self.wall(), self.stall_after)
        if stalled is not None:
            self._stalled(now, cycle, stalled[0], stalled[1], "failed after waiting")

    def store_wide(self, now: pendulum.DateTime | None, cycle: Cycle, error: str,
                   failed_fast: int, *, transient: bool) -> None:
        """Say, once per round, that a store-wide failure ended it (never a split).

        ``failed_fast``: the queued batches it failed without a store call. A
        transient one (locked, timed out, connection) only fails its own
        batch, retried on the backoff; the ``prefetch-failed`` event says so.
        """
        if transient or not failed_fast:
            return
        self._journal.event(now, EventKind.STORE_WIDE, cycle.session,
                            f"the round fails at once ({failed_fast} queued batches failed "
                            f"without a store call), retried on the backoff: {error}")

    def _stalled(self, now: pendulum.DateTime | None, cycle: Cycle, batch: Batch,
                 waited: float, what: str) -> None:
        first = batch.symbols[0] if batch.symbols else "-"
        detail = (f"load of {batch.interval} x {len(batch.symbols)} symbols from {first} "
                  f"(request {batch.request_id}, attempt {batch.attempt}) {what}: "
                  f"{waited:.1f} sec (deadline {self._deadline:g} sec)")
        log.warning("load-stalled: %s", detail)
        self._journal.event(now, EventKind.LOAD_STALLED, cycle.session, detail)
