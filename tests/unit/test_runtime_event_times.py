"""Events are dated when they happen: a load that takes time moves prefetch-done on.

On the real clock a load takes real time, so ``prefetch-done`` comes after
``prefetch-started``. The clock here is a simulated one whose reading the
store moves forward by ``LOAD_S`` in each load, the way the real clock moves
while a store answers; no wall clock is read.
"""

from __future__ import annotations

import datetime as dt

from support.week import at

from preopen.clock import Deliver, SimulatedClock
from preopen.model import Bars
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import EventKind

DAY = dt.date(2024, 11, 26)
WAIT = 20.0
LOAD_S = 4.5


class DriftingClock:
    """A simulated clock whose ``now()`` is ahead by what the store's loads took."""

    def __init__(self, start: dt.datetime) -> None:
        self.sim = SimulatedClock(start, settle_timeout=WAIT)
        self.elapsed = dt.timedelta(0)

    def now(self):
        return self.sim.now() + self.elapsed

    def alarm(self, deliver: Deliver, *, name: str = "alarm"):
        return self.sim.alarm(deliver, name=name)


class SlowStore:
    url = "slow://"

    def __init__(self, clock: DriftingClock) -> None:
        self.clock = clock

    def load(self, symbols, interval, start, end):
        self.clock.elapsed += dt.timedelta(seconds=LOAD_S)
        return {s: Bars.empty(s, interval) for s in symbols}

    def fingerprints(self, symbols, interval, ranges):
        return {}

    def write(self, interval, bars_by_symbol):
        return 0

    def symbols(self):
        return ("AAA",)

    def interrupt(self):
        pass

    def close(self):
        pass


def test_prefetch_done_is_dated_when_the_load_ended_not_at_the_tick():
    clock = DriftingClock(at(DAY, "08:29"))
    runtime = Runtime.start(
        Settings(symbols=("AAA",), loaders=1, intervals=("5m",), trailing_days=2),
        clock=clock, store=SlowStore(clock), timeout=WAIT)
    try:
        clock.sim.advance_to(at(DAY, "08:30"))
        events = {e.kind: e for e in runtime.status().events}
        started = events[EventKind.PREFETCH_STARTED].at
        done = events[EventKind.PREFETCH_DONE].at
        assert started == at(DAY, "08:30")
        assert done == at(DAY, "08:30") + dt.timedelta(seconds=LOAD_S)
    finally:
        runtime.stop(WAIT)
