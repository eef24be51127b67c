"""A cycle's load: from the symbols wanted to the loaders' answers.

:class:`Loading` is the planner's hand on the loader pool. For a cycle it
lists the store's symbols when the active set is every symbol (one
:class:`~preopen.planning.orders.ListSymbols`, to the loaders in turn),
creates the cycle's :class:`~preopen.planning.prefetch.Prefetch` sized for
the pool (``batch_size``, ``max_attempts``, :data:`PER_LOADER` in flight on
each loader, the host's shard), queues the wanted keys (from the split for
those whose older bars are reused:
:class:`~preopen.planning.incremental.IncrementalPrefetch`), and leaves a
:class:`~preopen.planning.orders.LoadBatch` in the planner's outbox for each
batch the bookkeeping hands out. It takes the loaders' answers, retries
failed keys when the planner says so, and hands a dead loader's batches to
the live ones. Whatever queues work dispatches it at once.

Each method that can end the load returns whether the cycle is now due a
freeze (its load done, or its snapshot no longer the wanted symbols): the
freeze, and what follows it, is the planner's.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

from preopen.model import Bars, TableMemory
from preopen.planning.orders import ChildKey, ListSymbols, LoadBatch, Role
from preopen.planning.prefetch import Prefetch
from preopen.status import EventKind

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    import pendulum

    from preopen.planning.cycle import Cycle
    from preopen.planning.incremental import IncrementalPrefetch
    from preopen.planning.journal import Journal
    from preopen.planning.prefetch import Key
    from preopen.planning.watch import LoadWatch
    from preopen.settings import Settings

__all__ = ["PER_LOADER", "Loading"]

#: The most batches in flight on one loader: its next batch is always queued.
PER_LOADER = 2


class Loading:
    """The loads of the planner's cycles across the loader pool.

    Args:
        settings: the runtime's settings (the pool's size, ``batch_size``,
            ``max_attempts``, the shard, ``check_interval``).
        outbox: the planner's outbox, where the orders go.
        journal: the planner's record.
        incremental: the planner's incremental prefetch.
        watch: the planner's watch on its loads (its wall clock stamps
            each batch dispatched).
    """

    def __init__(self, settings: Settings, *, outbox: list[tuple[ChildKey, object]],
                 journal: Journal, incremental: IncrementalPrefetch, watch: LoadWatch) -> None:
        """Load nothing yet."""
        self._loaders = settings.loaders
        self._batch_size = settings.batch_size
        self._max_attempts = settings.max_attempts
        self._check_interval = settings.check_interval
        shard = settings.shard_or_none
        # The host's shard: which symbols it loads (None: every one).
        self._keep = shard.keeps if shard is not None else None
        self._outbox = outbox
        self._journal = journal
        self._incremental = incremental
        self._watch = watch
        # One source of request ids for every load and listing, so that a late
        # reply to an earlier one is never taken for a newer one's.
        self._ids = itertools.count(1)
        self._listers = itertools.cycle(range(settings.loaders))
        # The memory of the tables built, reused by later cycles' tables (the
        # served snapshot's, and the one before it, which the next cycle takes).
        self._memory = TableMemory(keep=2 * len(settings.intervals))
        #: The store's symbols, as last listed (the wanted ones when the active set is every one).
        self.listed: tuple[str, ...] | None = None

    # --- starting ----------------------------------------------------------------

    def begin(self, cycle: Cycle, symbols: frozenset[str] | None) -> bool:
        """Start ``cycle``'s load of ``symbols`` (None: list the store's first)."""
        cycle.load_started = time.perf_counter()
        if symbols is None:
            self.request_listing(cycle)
            return False
        return self._start(cycle, tuple(symbols))

    def request_listing(self, cycle: Cycle) -> None:
        """Ask a loader, in turn, for the store's symbols."""
        request_id = next(self._ids)
        cycle.listing = request_id
        loader = ChildKey(Role.LOADER, next(self._listers))
        self._outbox.append((loader, ListSymbols(request_id)))

    def listed_by_store(self, cycle: Cycle, request_id: int, symbols: tuple[str, ...]) -> bool:
        """Take the store's symbols (the answer to the cycle's listing) and load them."""
        if cycle.listing != request_id:
            return False
        cycle.listing = None
        self.listed = symbols
        return self._start(cycle, symbols)

    def adopt(self, cycle: Cycle, data: Mapping[Key, Bars],
              symbols: frozenset[str] | None) -> None:
        """Count ``data`` (a snapshot already served) as loaded; load only what it lacks."""
        load = self._new_load(cycle)
        load.adopt(data)
        if symbols is None:
            self.request_listing(cycle)
        elif load.add(symbols, cycle.spec.intervals):
            self._pump(cycle)

    def add(self, cycle: Cycle, symbols: Collection[str], now: pendulum.DateTime) -> bool:
        """Load what ``cycle``'s started load lacks of ``symbols`` (a changed active set)."""
        if cycle.load is None:
            return False
        added = self._incremental.add(cycle, cycle.load, symbols)
        if not added:
            return cycle.refreeze_due(symbols)  # symbols removed, or re-added from the load
        self._journal.event(now, EventKind.SYMBOLS, cycle.session,
                            f"{added} keys added to the load")
        self._pump(cycle)
        return False

    def retry(self, cycle: Cycle, now: pendulum.DateTime) -> None:
        """Queue ``cycle``'s failed keys again and dispatch them."""
        assert cycle.load is not None  # noqa: S101 - callers check
        count = cycle.load.retry_failed()
        cycle.retry_at = None
        self._journal.event(now, EventKind.RETRY, cycle.session,
                            f"retrying {count} failed keys (attempt round {cycle.retries + 1})")
        self._pump(cycle)

    # --- the loaders' answers --------------------------------------------------------

    def loaded(self, cycle: Cycle, request_id: int, bars: Mapping[str, Bars],
               reloaded: frozenset[str]) -> bool:
        """Take a loader's bars (``reloaded``: symbols loaded in full, their reuse dropped)."""
        if cycle.load is None:
            return False
        self._incremental.drop(cycle, request_id, reloaded)
        if cycle.load.loaded(request_id, bars) is None:
            return False  # a late answer for an earlier cycle or a re-sent batch
        return self._progressed(cycle)

    def failed(self, cycle: Cycle, request_id: int, error: str, now: pendulum.DateTime | None,
               *, transient: bool, store_wide: bool) -> bool:
        """Take a loader's failure (``store_wide``: never split; see Prefetch.failed)."""
        if cycle.listing == request_id:
            cycle.listing = None
            when = cycle.back_off(now, self._check_interval) if now is not None else None
            again = f", retrying at {when.isoformat()}" if when is not None else ""
            self._journal.error(now, cycle.session,
                                f"listing the store's symbols failed: {error}{again}")
            return False
        load = cycle.load
        if load is None:
            return False
        self._watch.failing(now, cycle, request_id)
        fast = load.failed_fast
        if load.failed(request_id, error, transient=transient, store_wide=store_wide) is None:
            return False
        self._journal.update(last_error=error)
        if store_wide:
            self._watch.store_wide(now, cycle, error, load.failed_fast - fast,
                                   transient=transient)
        return self._progressed(cycle)

    def loader_lost(self, cycle: Cycle, loader: ChildKey, now: pendulum.DateTime | None) -> bool:
        """A restarted ``loader`` lost its batches in flight: hand them to live loaders."""
        if cycle.load is None or loader.index is None:
            return False
        lost = cycle.load.loader_lost(loader.index)
        if lost:
            self._journal.event(now, EventKind.RETRY, cycle.session,
                                f"{lost} batches of {loader} handed to live loaders")
        return self._progressed(cycle)

    # --- the load ----------------------------------------------------------------------

    def _new_load(self, cycle: Cycle) -> Prefetch[Bars]:
        if cycle.load is None:
            cycle.load = Prefetch(
                loaders=self._loaders,
                batch_size=self._batch_size,
                max_attempts=self._max_attempts,
                empty=Bars.empty,
                per_loader=PER_LOADER,
                ids=self._ids,
                keep=self._keep,
            )
            if cycle.load_started is None:
                cycle.load_started = time.perf_counter()
        return cycle.load

    def _start(self, cycle: Cycle, symbols: tuple[str, ...]) -> bool:
        fresh = cycle.load is None
        load = self._new_load(cycle)
        if fresh:
            self._incremental.plan(cycle, symbols)
        added = self._incremental.add(cycle, load, symbols)
        if fresh and added:
            # The keys queued are the shard's symbols at every interval.
            cycle.reserve(added // max(1, len(cycle.spec.intervals)), self._memory)
            cycle.prefill(symbols)
        # Done at once: nothing to load at all (an empty set), unless the load
        # was adopted from a served snapshot that already has everything.
        if load.done and (added or cycle.served is None):
            return True
        if not added:
            return cycle.refreeze_due(symbols)  # every symbol again, all loaded already
        self._pump(cycle)
        return False

    def _progressed(self, cycle: Cycle) -> bool:
        load = cycle.load
        if load is None:
            return False
        if load.done:
            return True
        self._pump(cycle)
        return False

    def _pump(self, cycle: Cycle) -> None:
        if cycle.load is None:
            return
        spec = cycle.spec
        for loader, batch in cycle.load.dispatch(self._watch.wall()):
            start = batch.start if batch.start is not None else spec.start
            check = self._incremental.check(cycle, batch)
            self._outbox.append((ChildKey(Role.LOADER, loader),
                                 LoadBatch(batch, start, spec.end, check)))
