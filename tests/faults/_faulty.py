"""A BarStore that fails on purpose: the fault suite's one injection point.

:class:`FaultyStore` implements the BarStore protocol around a real store.
It injects faults only where a real store could: in its own calls, made in
the loader's thread.

- ``plan`` maps a batch, ``(symbols, interval)``, to the fault it meets the
  *first* time it is asked for; later asks of the same batch succeed. A
  batch split after a failure has other symbols, so its halves are clean.
- ``down = True`` makes every call raise ``StoreConnectionError`` until the
  test sets it back (a server unreachable for as long as the test says).
- ``before_load(n)`` is called before the n-th load (1-based), in the
  loader's thread: the PostgreSQL tests terminate backends there, so the
  fault lands at a chosen point of the prefetch and not whenever a thread
  happens to be fast enough.

A KILL fault kills the loader's actor mid-batch: the store returns a mapping
whose every lookup raises, so the loader dies *after* the store answered and
*before* it replied, the way a bug in the loader would (the loader turns any
exception *from the store* into a failure reply, so a store cannot kill it
by raising).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from preopen.errors import StoreConnectionError, StoreError

__all__ = ["Fault", "FaultyStore", "LoaderKilledError", "crash"]


class Fault(enum.StrEnum):
    """What a planned batch meets the first time it is loaded."""

    RAISE = "raise"  # a data error: the batch is split and retried
    DISCONNECT = "disconnect"  # a connection error: the batch is retried as is
    KILL = "kill"  # the loader's actor dies mid-batch


class LoaderKilledError(RuntimeError):
    """Raised inside the loader by the poisoned answer of a KILL fault."""


class _Poisoned(Mapping[str, object]):
    """An answer that kills whoever looks into it."""

    def __getitem__(self, key: str) -> object:
        raise LoaderKilledError(f"injected death while reading {key!r}")

    def __contains__(self, key: object) -> bool:
        raise LoaderKilledError(f"injected death while looking for {key!r}")

    def __iter__(self) -> Iterator[str]:
        raise LoaderKilledError("injected death while iterating")

    def __len__(self) -> int:
        raise LoaderKilledError("injected death while counting")


Batch = tuple[tuple[str, ...], str]


@dataclass
class Injected:
    """What the store did, for the tests' accounting (read after the run)."""

    faults: list[tuple[Fault, Batch]] = field(default_factory=list)
    loads: int = 0
    refused_while_down: int = 0
    # perf_counter of each KILL, and of the first load of each new loader thread.
    kill_times: list[float] = field(default_factory=list)
    new_thread_times: list[float] = field(default_factory=list)

    def count(self, fault: Fault) -> int:
        """How many faults of that kind were injected."""
        return sum(1 for f, _ in self.faults if f is fault)


class FaultyStore:
    """A real store with faults injected on chosen calls (see the module docstring).

    Args:
        inner: the real store (not closed by this one).
        plan: batch -> the fault it meets the first time.
        before_load: called with the load's 1-based number before it runs.
        tamper: symbol -> a function applied to its loaded Bars (bad data
            as a store's driver would hand it over: Bars built from raw rows).
    """

    def __init__(
        self,
        inner: object,
        *,
        plan: Mapping[Batch, Fault] | None = None,
        before_load: Callable[[int], None] | None = None,
        tamper: Mapping[str, Callable[[object], object]] | None = None,
    ) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.url: str = inner.url  # type: ignore[attr-defined]
        self.plan = dict(plan or {})
        self.before_load = before_load
        self.tamper = dict(tamper or {})
        self.down = False
        self.injected = Injected()
        self._seen: set[Batch] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()  # test code: the accounting is shared by loader threads

    def _unreachable(self) -> StoreConnectionError:
        return StoreConnectionError(
            "connection to server at 127.0.0.1, port 5432 failed: Connection refused",
            url=self.url, host="127.0.0.1", port=5432, database="test",
        )

    def load(self, symbols, interval, start, end):
        """Load through the inner store, unless a fault is due."""
        now = time.perf_counter()
        key: Batch = (tuple(symbols), interval)
        with self._lock:
            # The Thread object, not get_ident(): an ident is reused once a thread ends.
            thread = threading.current_thread()
            if thread not in self._threads:
                self._threads.add(thread)
                self.injected.new_thread_times.append(now)
            self.injected.loads += 1
            number = self.injected.loads
            if self.down:
                self.injected.refused_while_down += 1
                raise self._unreachable()
            fault = self.plan.get(key) if key not in self._seen else None
            self._seen.add(key)
            if fault is not None:
                self.injected.faults.append((fault, key))
        if self.before_load is not None:
            self.before_load(number)
        if fault is Fault.RAISE:
            raise StoreError(f"injected failure loading {len(symbols)} symbols at {interval}")
        if fault is Fault.DISCONNECT:
            raise self._unreachable()
        bars = self.inner.load(symbols, interval, start, end)  # type: ignore[attr-defined]
        if fault is Fault.KILL:
            with self._lock:
                self.injected.kill_times.append(time.perf_counter())
            return _Poisoned()
        for symbol, spoil in self.tamper.items():
            if symbol in bars:
                bars[symbol] = spoil(bars[symbol])
        return bars

    def symbols(self) -> tuple[str, ...]:
        """The inner store's symbols (unreachable while down)."""
        if self.down:
            raise self._unreachable()
        return self.inner.symbols()  # type: ignore[attr-defined, no-any-return]

    def write(self, interval, bars_by_symbol):
        """Write through."""
        return self.inner.write(interval, bars_by_symbol)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Leave the inner store open (its owner closes it)."""


# Messages that make a child raise while handling a ``tell``: pykka then stops
# it and calls its on_failure, the path of any bug in a handler. Each poison
# kills exactly one incarnation (one sent to a dead child is delivered to the
# next incarnation, and kills that one instead).
def _poison(child: str) -> object:
    from preopen.actors.messages import Activate, ActivateNow, Subscribe  # noqa: PLC0415 - local to the helper

    poisons: dict[str, object] = {
        "session_data": Activate(snapshot=None, sent_at=0.0, symbols=0),  # type: ignore[arg-type]
        # Whatever state the scheduler is in (even before it has its calendar),
        # it answers ActivateNow on its reply: a missing reply always kills it.
        "scheduler": ActivateNow(reply=None),  # type: ignore[arg-type]
        "calendar": Subscribe(reply_to=None),  # type: ignore[arg-type]
    }
    return poisons[child]


def crash(runtime: object, child: str) -> None:
    """Kill ``child`` ("session_data", "scheduler" or "calendar") of a running runtime once."""
    from preopen.actors import ChildKey  # noqa: PLC0415 - local to the helper

    address = runtime._tree.address(ChildKey(child))  # type: ignore[attr-defined]
    assert address.tell(_poison(child)), f"{child} could not be told"
