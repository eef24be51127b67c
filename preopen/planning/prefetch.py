"""The bookkeeping of one session's load: its batches, across a pool of loaders.

:class:`Prefetch` is plain, single-threaded logic, tested on its own; each
:class:`~preopen.planning.cycle.Cycle` of the planner holds one. It cuts the
wanted ``(symbol, interval)`` keys into batches of ``batch_size`` symbols of
one interval, hands them to loaders with at most ``per_loader`` in flight on
each (so a loader always has its next batch queued, and no loader hoards the
work), collects the replies, and retries failures:

- a *store-wide* failure (:func:`preopen.errors.is_store_wide`: connection,
  missing table, locked, timed out...) is never split, since every batch
  would fail alike: the batch's keys fail at once (the cycle retries failed
  keys on its backoff), and when the failure is not transient either (a
  missing table) every batch still queued fails with it without a store call
  (:meth:`Prefetch.failed`; see "Store-wide failures" in
  ``docs/architecture.md``);
- any other *transient* failure retries the batch as is, ``max_attempts``
  times in all;
- any other failure of a batch of several symbols may be one poisoned
  symbol: the batch is split in halves, which are retried on their own
  (splitting spends no attempt, so the neighbours of a poisoned symbol are
  always loaded); a single symbol that still fails after ``max_attempts``
  is marked failed with its last error;
- a batch in flight on a loader that died is handed to a live loader; the
  one it died on spends an attempt (a batch that kills its loader cannot
  loop forever), the ones queued behind it do not.

Every key is in exactly one of: pending, in flight, done, failed; so
``done + failed + pending + in flight == total`` at all times.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from preopen.status import Progress

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

    import pendulum

__all__ = ["Batch", "Key", "Prefetch", "SizedBars"]


class SizedBars(Protocol):
    """What the bookkeeping needs of a Bars value."""

    def __len__(self) -> int:
        """The number of bars."""
        ...

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold."""
        ...


B = TypeVar("B", bound=SizedBars)
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Batch:
    """One request to one loader.

    Attributes:
        request_id: unique within the runtime; a reply names it.
        symbols: the symbols, sorted.
        interval: the one interval of the batch.
        attempt: 1 for the first try.
        start: where its load starts; None: the start of the session's
            range (a symbol whose older bars are reused starts later).
    """

    request_id: int
    symbols: tuple[str, ...]
    interval: str
    attempt: int
    start: pendulum.DateTime | None = None


@dataclass(frozen=True, slots=True)
class _Queued:
    symbols: tuple[str, ...]
    interval: str
    attempt: int
    start: pendulum.DateTime | None = None


class Prefetch(Generic[B]):
    """The load of one session's keys across a pool of loaders.

    Args:
        loaders: how many loaders there are (indexes ``0..loaders-1``).
        batch_size: the most symbols in one batch.
        max_attempts: tries per key before it is marked failed.
        empty: makes the empty Bars of a symbol the store returned nothing for.
        per_loader: the most batches in flight on one loader.
        ids: the source of request ids (shared by the runtime, so that a
            late reply to an earlier load is never taken for this one's).
        keep: which symbols this host loads (its shard); None: every one.

    Raises:
        ValueError: a count below 1.
    """

    def __init__(
        self,
        *,
        loaders: int,
        batch_size: int,
        max_attempts: int,
        empty: Callable[[str, str], B],
        per_loader: int = 2,
        ids: Iterator[int] | None = None,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        """Create an empty load."""
        for name, value in (
            ("loaders", loaders),
            ("batch_size", batch_size),
            ("max_attempts", max_attempts),
            ("per_loader", per_loader),
        ):
            if value < 1:
                msg = f"{name}={value} is not accepted: an integer >= 1"
                raise ValueError(msg)
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._per_loader = per_loader
        self._empty = empty
        self._ids = ids if ids is not None else itertools.count(1)
        self._keep = keep
        self._queue: deque[_Queued] = deque()
        self._in_flight: dict[int, tuple[int, Batch]] = {}
        self._busy = [0] * loaders
        self._bars: dict[Key, B] = {}
        self._failed: dict[Key, str] = {}
        self._known: set[Key] = set()
        self._start: dict[Key, pendulum.DateTime] = {}  # keys loaded from a later start
        self.bars_loaded = 0
        self.bytes_loaded = 0
        self.batches_retried = 0  # batches queued again: retries, split halves, a dead loader's
        self.failed_fast = 0  # batches failed without a store call (a store-wide failure)
        self.batches_stalled = 0  # batches seen waiting past the stall threshold
        # Wall-clock dispatch time of each batch in flight (see stalled()).
        self._sent_at: dict[int, float] = {}
        self._stalled: dict[int, float] = {}  # reported stalls: request id -> reported wait

    # --- what to load ------------------------------------------------------

    def add(self, symbols: Iterable[str], intervals: Iterable[str],
            *, start: pendulum.DateTime | None = None) -> int:
        """Queue every ``(symbol, interval)`` not yet known; return how many.

        ``start``: load them from there rather than from the session's start
        (their older bars are reused from the served snapshot).
        """
        wanted = sorted(set(symbols) if self._keep is None else filter(self._keep, set(symbols)))
        added = 0
        for interval in intervals:
            fresh = [s for s in wanted if (s, interval) not in self._known]
            self._known.update((s, interval) for s in fresh)
            if start is not None:
                self._start.update(dict.fromkeys(((s, interval) for s in fresh), start))
            added += len(fresh)
            for i in range(0, len(fresh), self._batch_size):
                chunk = tuple(fresh[i : i + self._batch_size])
                self._queue.append(_Queued(chunk, interval, 1, start))
        return added

    def rebase(self, bars_by_key: Mapping[Key, B]) -> None:
        """Hold ``bars_by_key`` instead of the bars of those loaded keys (same data, new home).

        A key loaded from a later start then holds its whole range, and is
        loaded from the session's start if it is ever loaded again.
        """
        for key, bars in bars_by_key.items():
            if key in self._bars:
                self._bars[key] = bars
                self._start.pop(key, None)

    def adopt(self, bars_by_key: Mapping[Key, B]) -> int:
        """Count keys loaded elsewhere (a snapshot already served) as done; return how many.

        Their bars are not counted in ``bars_loaded``: they were loaded once already.
        """
        adopted = 0
        for key, bars in bars_by_key.items():
            if key not in self._known:
                self._known.add(key)
                self._bars[key] = bars
                adopted += 1
        return adopted

    def retry_failed(self) -> int:
        """Queue every failed key again with fresh attempts; return how many."""
        by_interval: dict[tuple[str, pendulum.DateTime | None], list[str]] = {}
        for symbol, interval in sorted(self._failed):
            group = (interval, self._start.get((symbol, interval)))
            by_interval.setdefault(group, []).append(symbol)
        self._failed.clear()
        count = 0
        for (interval, start), symbols in by_interval.items():
            count += len(symbols)
            for i in range(0, len(symbols), self._batch_size):
                chunk = tuple(symbols[i : i + self._batch_size])
                self._queue.append(_Queued(chunk, interval, 1, start))
                self.batches_retried += 1
        return count

    # --- handing out work --------------------------------------------------

    def dispatch(self, sent_at: float = 0.0) -> list[tuple[int, Batch]]:
        """The batches to send now, each with the index of its loader.

        Fills every loader up to ``per_loader`` batches in flight, the least
        busy loader first (lowest index on ties, so that the plan is
        deterministic). ``sent_at`` is the wall-clock (``time.monotonic``)
        instant they are sent, for :meth:`stalled`.
        """
        out: list[tuple[int, Batch]] = []
        while self._queue:
            loader = min(range(len(self._busy)), key=lambda i: (self._busy[i], i))
            if self._busy[loader] >= self._per_loader:
                break
            queued = self._queue.popleft()
            batch = Batch(next(self._ids), queued.symbols, queued.interval, queued.attempt,
                          queued.start)
            self._in_flight[batch.request_id] = (loader, batch)
            self._sent_at[batch.request_id] = sent_at
            self._busy[loader] += 1
            out.append((loader, batch))
        return out

    # --- replies -------------------------------------------------------------

    def loaded(self, request_id: int, bars: Mapping[str, B]) -> Batch | None:
        """Record a loader's bars; ``None`` if the reply is not for a batch in flight.

        A symbol of the batch missing from the reply has no bars in the range:
        it is recorded as empty (validation then flags it). Symbols the batch
        did not ask for are ignored.
        """
        batch = self._take(request_id)
        if batch is None:
            return None
        for symbol in batch.symbols:
            value = bars.get(symbol)
            if value is None:
                value = self._empty(symbol, batch.interval)
            self._bars[(symbol, batch.interval)] = value
            self.bars_loaded += len(value)
            self.bytes_loaded += value.nbytes
        return batch

    def failed(self, request_id: int, error: str, *, transient: bool,
               store_wide: bool = False) -> Batch | None:
        """Record a failed batch and queue its retry; ``None`` if not in flight.

        ``store_wide``: the failure is the store's, not one symbol's; see
        :meth:`_fail_store_wide`.
        """
        batch = self._take(request_id)
        if batch is None:
            return None
        if store_wide:
            self._fail_store_wide(batch, error, transient=transient)
        elif not transient and len(batch.symbols) > 1:
            half = len(batch.symbols) // 2
            # The halves go first, so that a split batch finishes soon.
            self._queue.appendleft(
                _Queued(batch.symbols[half:], batch.interval, batch.attempt, batch.start))
            self._queue.appendleft(
                _Queued(batch.symbols[:half], batch.interval, batch.attempt, batch.start))
            self.batches_retried += 2
        else:
            self._retry_or_fail(batch, error)
        return batch

    def _fail_store_wide(self, batch: Batch, error: str, *, transient: bool) -> None:
        """A store-wide failure: never split, never retried in place.

        The batch's keys fail at once with ``error``; the cycle retries
        failed keys on its backoff (:meth:`retry_failed`). A failure that is
        not transient either (a missing table, wrong columns, a read-only or
        full database) would fail every other batch alike: the batches still
        queued fail too, without a store call (counted in ``failed_fast``),
        so the round ends after the batches already in flight answer.
        """
        for symbol in batch.symbols:
            self._failed[(symbol, batch.interval)] = error
        if transient:
            return
        while self._queue:
            queued = self._queue.popleft()
            for symbol in queued.symbols:
                self._failed[(symbol, queued.interval)] = error
            self.failed_fast += 1

    def loader_lost(self, loader: int) -> int:
        """Hand the batches in flight on a dead ``loader`` to the others; return how many.

        A loader handles its batches in the order they were sent, so the
        oldest one in flight is the one it died on: only that batch spends an
        attempt. The ones queued behind it never started; they go back to the
        front of the queue with their attempt unchanged (charging them would
        let a loader that dies often fail innocent symbols).
        """
        lost = [rid for rid, (owner, _) in self._in_flight.items() if owner == loader]
        innocent: list[_Queued] = []
        for position, rid in enumerate(lost):  # dict order is dispatch order
            batch = self._take(rid)
            if batch is None:
                continue
            if position == 0:
                self._retry_or_fail(batch, f"loader-{loader} died with the batch in flight")
            else:
                innocent.append(_Queued(batch.symbols, batch.interval, batch.attempt, batch.start))
        self._queue.extendleft(reversed(innocent))
        self.batches_retried += len(innocent)
        return len(lost)

    # --- stalls ---------------------------------------------------------------

    def stalled(self, now: float, threshold: float) -> list[tuple[Batch, float]]:
        """The batches in flight to report as stalled at ``now``, with their wait.

        Waits are wall-clock seconds (``now`` and the ``sent_at`` given to
        :meth:`dispatch` come from ``time.monotonic``): a store's slowness is
        real time, even under a simulated clock. A batch is reported when it
        has waited ``threshold`` seconds, then again each time its wait has
        doubled since the last report (so a hung store shows in the history
        without flooding it); ``batches_stalled`` counts each batch once.
        """
        out: list[tuple[Batch, float]] = []
        for request_id, (_, batch) in self._in_flight.items():
            waited = now - self._sent_at.get(request_id, now)
            if waited < threshold:
                continue
            reported = self._stalled.get(request_id)
            if reported is None:
                self.batches_stalled += 1
            elif waited < 2 * reported:
                continue
            self._stalled[request_id] = waited
            out.append((batch, waited))
        return out

    def stalled_on_failure(self, request_id: int, now: float,
                           threshold: float) -> tuple[Batch, float] | None:
        """A batch failing after waiting ``threshold`` seconds or more, unreported so far.

        Call it before :meth:`failed` (a load past its deadline answers with
        a failure: it stalled even if no check saw it waiting). Counted in
        ``batches_stalled``.
        """
        entry = self._in_flight.get(request_id)
        if entry is None or request_id in self._stalled:
            return None
        waited = now - self._sent_at.get(request_id, now)
        if waited < threshold:
            return None
        self._stalled[request_id] = waited
        self.batches_stalled += 1
        return entry[1], waited

    def interval_of(self, request_id: int) -> str | None:
        """The interval of a batch in flight; None when it is not in flight."""
        entry = self._in_flight.get(request_id)
        return entry[1].interval if entry is not None else None

    def _take(self, request_id: int) -> Batch | None:
        entry = self._in_flight.pop(request_id, None)
        if entry is None:
            return None
        loader, batch = entry
        self._busy[loader] -= 1
        self._sent_at.pop(request_id, None)
        self._stalled.pop(request_id, None)
        return batch

    def _retry_or_fail(self, batch: Batch, error: str) -> None:
        if batch.attempt < self._max_attempts:
            self._queue.appendleft(
                _Queued(batch.symbols, batch.interval, batch.attempt + 1, batch.start))
            self.batches_retried += 1
            return
        for symbol in batch.symbols:
            self._failed[(symbol, batch.interval)] = error

    # --- state -----------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Nothing queued and nothing in flight (some keys may have failed)."""
        return not self._queue and not self._in_flight

    @property
    def complete(self) -> bool:
        """Done, and every key loaded."""
        return self.done and not self._failed

    @property
    def in_flight(self) -> int:
        """Batches in flight."""
        return len(self._in_flight)

    def busy(self, loader: int) -> int:
        """Batches in flight on ``loader``."""
        return self._busy[loader]

    @property
    def progress(self) -> Progress:
        """Keys done, in all, and failed."""
        return Progress(done=len(self._bars), total=len(self._known), failed=len(self._failed))

    @property
    def failures(self) -> Mapping[Key, str]:
        """Each failed key with its last error."""
        return dict(self._failed)

    def failed_symbols(self) -> tuple[str, ...]:
        """The symbols with at least one failed key, sorted."""
        return tuple(sorted({symbol for symbol, _ in self._failed}))

    def symbols(self) -> frozenset[str]:
        """Every symbol this load knows of."""
        return frozenset(symbol for symbol, _ in self._known)

    def data(self, symbols: Collection[str] | None = None) -> dict[Key, B]:
        """The bars loaded so far, only of ``symbols`` when given."""
        if symbols is None:
            return dict(self._bars)
        return {key: bars for key, bars in self._bars.items() if key[0] in symbols}
