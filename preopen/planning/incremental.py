"""Incremental prefetch: the next cycle's load reuses what the served snapshot holds.

With ``refresh = "incremental"`` (the default) the planner remembers the
snapshot it served together with the :class:`~preopen.planning.cycle.LoadSpec`
it was loaded for (:class:`Served`). When the next cycle starts its load,
:meth:`Reuse.plan` works out the range both snapshots cover,
``[spec.start, served.end)``: for each wanted key the served snapshot holds,
its bars in that range are kept as views (:func:`preopen.model.reuse_bars`)
and only ``[served.end, spec.end)`` is loaded; a key it lacks (a new symbol,
a new interval, a key whose load failed, bars that were repaired) is loaded
over the whole range. At the freeze each reused view and the loaded bars of
its key are copied once into the new table
(:meth:`~preopen.model.SessionSnapshot.assemble` with ``reused=``), so the
result is the table a full load makes, bit for bit, as long as the store's
rows in the reused range did not change since it was loaded (a store that
corrects past sessions wants ``refresh = "full"``).

The split is the served range's *end*, not the first new session's open: a
store may hold bars between sessions (after hours), which a full load of
``[start, end)`` returns; loading from the served end keeps them.

Nothing is reused (a full load) when no snapshot frozen by an earlier cycle
of this planner is served: on the first start, after a restart of the
scheduler or the runtime (the settings may have changed), or when the
ranges do not overlap (a long gap, ``trailing_days`` of 1).

:class:`IncrementalPrefetch` is the planner's side of it: it remembers the
served snapshot when a cycle closes, plans each cycle's :class:`Reuse`,
queues its keys, and tells what a loader checks first (``verify_reused``:
the loader's side is :func:`preopen.actors.loader.load_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.model import clean_keys, reuse_bars
from preopen.planning.orders import ReuseCheck

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Collection

    import pendulum

    from preopen.model import Bars, SessionSnapshot
    from preopen.planning.cycle import Cycle, LoadSpec
    from preopen.planning.prefetch import Batch, Prefetch

__all__ = ["IncrementalPrefetch", "Reuse", "Served", "reuse_range"]

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Served:
    """A snapshot a cycle froze and served, with what it was loaded for."""

    spec: LoadSpec
    snapshot: SessionSnapshot


def reuse_range(
    served: LoadSpec, spec: LoadSpec
) -> tuple[pendulum.DateTime, pendulum.DateTime] | None:
    """``[spec.start, served.end)``, the range both loads cover, or None if it is empty.

    The served range must start no later than the new one and end inside
    it, so that the new range is the reused part followed by the part to load.
    """
    if served.start <= spec.start < served.end <= spec.end:
        return spec.start, served.end
    return None


class Reuse:
    """The reused part of one cycle's load.

    Attributes:
        split: the loads of reused keys start here (the served range's end).
        bars: (symbol, interval) -> reused bars (views of the served tables)
            not yet copied into a snapshot of this cycle.
        sessions: the trailing sessions whose bars are reused.
        clean: reused keys whose served entry was clean: their reused bars
            are not validated again (only the new sessions' bars).
        keys: how many keys reuse bars (counted when planned).
        nbars: how many bars are reused (counted when planned).
    """

    __slots__ = ("bars", "clean", "corrected", "keys", "nbars", "sessions", "split")

    def __init__(self, split: pendulum.DateTime, bars: dict[Key, Bars],
                 sessions: tuple[dt.date, ...], clean: frozenset[Key] = frozenset()) -> None:
        """Hold the reused bars, loads of their keys starting at ``split``."""
        self.split = split
        self.bars = bars
        self.sessions = sessions
        self.clean = clean
        self.keys = len(bars)
        self.nbars = sum(len(b) for b in bars.values())
        self.corrected = 0  # keys found corrected in the store and loaded in full

    @classmethod
    def plan(cls, served: Served | None, spec: LoadSpec,
             symbols: Collection[str]) -> Reuse | None:
        """What ``spec``'s load of ``symbols`` can take from ``served``; None: load in full."""
        if served is None:
            return None
        window = reuse_range(served.spec, spec)
        if window is None:
            return None
        start, split = window
        intervals = [i for i in spec.intervals if i in served.spec.intervals]
        bars = reuse_bars(served.snapshot, start, split, symbols, intervals)
        if not bars:
            return None
        sessions = tuple(d for d in spec.trailing if d in served.spec.trailing)
        return cls(split, bars, sessions, clean_keys(served.snapshot.report, bars))

    def add(self, load: Prefetch[Bars], symbols: Collection[str],
            intervals: Collection[str]) -> int:
        """Queue ``symbols`` x ``intervals``: reused keys from :attr:`split`, others in full."""
        added = 0
        for interval in intervals:
            later = [s for s in symbols if (s, interval) in self.bars]
            whole = [s for s in symbols if (s, interval) not in self.bars]
            if later:
                added += load.add(later, (interval,), start=self.split)
            if whole:
                added += load.add(whole, (interval,))
        return added

    def settle(self, load: Prefetch[Bars], snapshot: SessionSnapshot) -> None:
        """After a freeze: the keys now in ``snapshot`` hold its views, not the served ones.

        So the served snapshot is no longer referenced once every reused key
        is frozen (it can be freed after the swap), and a later re-freeze of
        this cycle finds each key's whole range in the load.
        """
        reused, frozen = self.bars, {}
        for interval, table in snapshot.tables.items():
            # Walk each table once (no lookup per key): the reused keys it holds.
            for symbol, bars in zip(table.symbols, table, strict=True):
                if (symbol, interval) in reused:
                    frozen[symbol, interval] = bars
        load.rebase(frozen)
        self.bars = {key: bars for key, bars in reused.items() if key not in frozen}

    def drop(self, symbols: Collection[str], interval: str) -> None:
        """Keep none of these symbols' reused bars at ``interval`` (loaded in full instead)."""
        for symbol in symbols:
            self.bars.pop((symbol, interval), None)
        self.corrected += len(symbols)

    def describe(self) -> str:
        """In words, for the event history: what was reused."""
        sessions = self.sessions
        span = f" ({sessions[0]}..{sessions[-1]})" if sessions else ""
        fixed = f", {self.corrected} corrected in the store" if self.corrected else ""
        return f"{self.nbars} reused of {self.keys} keys{span}{fixed}"


class IncrementalPrefetch:
    """The planner's incremental prefetch: what each cycle's load reuses of the served snapshot.

    Args:
        enabled: ``refresh == "incremental"``; when False every load is full.
        verify: ``verify_reused``: each batch of reused keys carries a
            :class:`~preopen.planning.orders.ReuseCheck` for its loader.
    """

    def __init__(self, *, enabled: bool, verify: bool) -> None:
        """Remember nothing yet: the first load is full."""
        self._enabled = enabled
        self._verify = verify
        # The snapshot the last cycle froze and served, for the next one to reuse.
        self._served: Served | None = None

    def remember(self, cycle: Cycle) -> None:
        """Keep the snapshot a closing cycle froze and served, for the next cycle to reuse.

        A cycle that adopted its snapshot (from an earlier incarnation) has
        nothing to offer: its range is that incarnation's.
        """
        served = cycle.served
        if served is None or cycle.adopted or not self._enabled:
            return
        self._served = Served(cycle.spec, served)

    def plan(self, cycle: Cycle, symbols: Collection[str]) -> None:
        """Decide, as a cycle's load starts, what it reuses of the served snapshot (used once)."""
        served, self._served = self._served, None
        if cycle.adopted or not self._enabled:
            return
        cycle.reuse = Reuse.plan(served, cycle.spec, symbols)

    @staticmethod
    def add(cycle: Cycle, load: Prefetch[Bars], symbols: Collection[str]) -> int:
        """Queue ``symbols``' keys, from the split for those whose older bars are reused."""
        reuse = cycle.reuse
        if reuse is None:
            return load.add(symbols, cycle.spec.intervals)
        return reuse.add(load, symbols, cycle.spec.intervals)

    def check(self, cycle: Cycle, batch: Batch) -> ReuseCheck | None:
        """With ``verify_reused``: what a loader checks before the batch's reused bars are kept."""
        reuse = cycle.reuse
        if not self._verify or reuse is None or batch.start is None:
            return None
        reused = {s: reuse.bars[s, batch.interval] for s in batch.symbols
                  if (s, batch.interval) in reuse.bars}
        return ReuseCheck(cycle.spec.start, MappingProxyType(reused)) if reused else None

    @staticmethod
    def drop(cycle: Cycle, request_id: int, reloaded: frozenset[str]) -> None:
        """Forget the reused bars of symbols a loader found corrected and loaded in full."""
        reuse, load = cycle.reuse, cycle.load
        if not reloaded or reuse is None or load is None:
            return
        interval = load.interval_of(request_id)
        if interval is not None:
            reuse.drop(reloaded, interval)
