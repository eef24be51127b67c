"""A stateful model of the runtime: clock advances, symbol changes, amendments, a flaky store.

Invariants, checked after every step:

- the served snapshot is one session's snapshot, never a mix: one session
  date, every bar inside that session's trailing range; when it says it is
  complete, every symbol is there at every interval with exactly the bars
  the calendar expects (counted here from the calendar, not from the
  report); while the store has never failed, the snapshot served during a
  session is complete and holds exactly the active symbols;
- once a session is open, nothing but its own snapshot is served (or none,
  while its load is failing); outside sessions, never a future session's;
- the status counts add up.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pendulum
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from support.week import NY, XNYS, grid_bars

from preopen.clock import SimulatedClock
from preopen.errors import NoSnapshotError
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store

CAL = XNYS
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
FIRST, LAST = dt.date(2024, 11, 11), dt.date(2024, 12, 6)
WEEK = CAL.sessions(dt.date(2024, 11, 25), dt.date(2024, 12, 5))
DB: dict[str, str] = {}


def session_bars(symbol, interval, seed):
    return grid_bars(symbol, interval, FIRST, LAST,
                     close=lambda n: 50 + seed + np.sin(np.arange(n) / 50))


@pytest.fixture(scope="module", autouse=True)
def seeded(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('stateful') / 'bars.db'}"
    store = open_store(url, create=True)
    for interval in ("1m", "1d"):
        store.write(interval, {s: session_bars(s, interval, i) for i, s in enumerate(SYMBOLS)})
    store.close()
    DB["url"] = url
    yield
    DB.clear()


class ChaosStore:
    """The real store, made slow or failing on demand (the test thread sets the mode)."""

    def __init__(self, inner):
        self.inner = inner
        self.url = inner.url
        self.mode = "ok"

    def load(self, symbols, interval, start, end):
        mode = self.mode
        if mode == "down":
            raise ConnectionError("server closed the connection")
        if mode == "poison" and "BBB" in symbols:
            raise ValueError("bad row for BBB")
        if mode == "slow":
            time.sleep(0.002)  # a slow query, not a synchronisation
        return self.inner.load(symbols, interval, start, end)

    def symbols(self):
        if self.mode == "down":
            raise ConnectionError("server closed the connection")
        return self.inner.symbols()

    def write(self, interval, bars):
        return self.inner.write(interval, bars)

    def close(self):
        self.inner.close()


class RuntimeMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.runtime = None

    @initialize(start_minutes=st.integers(0, 60 * 24 * 3))
    def start(self, start_minutes):
        start = pendulum.datetime(2024, 11, 24, 18, 0, tz=NY).add(minutes=start_minutes)
        self.clock = SimulatedClock(start)
        self.store = ChaosStore(open_store(DB["url"]))
        self.store_failed = False
        self.runtime = Runtime.start(
            Settings(store=DB["url"], loaders=2, batch_size=2, max_attempts=2, symbols=SYMBOLS),
            clock=self.clock, store=self.store)

    @rule(minutes=st.sampled_from([1, 7, 30, 61, 180, 600, 1440]))
    def advance(self, minutes):
        self.clock.advance(dt.timedelta(minutes=minutes))

    @rule(symbols=st.one_of(st.none(), st.sets(st.sampled_from(SYMBOLS), min_size=1)))
    def set_symbols(self, symbols):
        self.runtime.set_symbols(symbols)
        self.runtime.settle(timeout=30)

    @rule(mode=st.sampled_from(["ok", "ok", "slow", "down", "poison"]))
    def store_mode(self, mode):
        self.store.mode = mode
        self.store_failed = self.store_failed or mode in ("down", "poison")

    @precondition(lambda self: self.runtime is not None)
    @rule(pick=st.integers(0, len(WEEK) - 1), early=st.booleans())
    def amend(self, pick, early):
        day = WEEK[pick]
        calendar = self.runtime.calendar
        today = calendar.local_date(self.clock.now())
        if day <= today or not calendar.is_session(day):
            return  # announced ahead of time only
        if early:
            self.runtime.amend_calendar(early_closes={day: dt.time(13, 0)})
        else:
            self.runtime.amend_calendar(closures=[day])
        self.runtime.settle(timeout=30)

    @invariant()
    def served_snapshot_is_one_whole_session(self):
        if self.runtime is None:
            return
        try:
            snapshot = self.runtime.snapshot()
        except NoSnapshotError:
            snapshot = None
        calendar = self.runtime.calendar
        now = self.clock.now()
        in_progress = calendar.session_at(now)
        if snapshot is None:
            return
        if in_progress is not None:
            assert snapshot.session == in_progress
        else:
            assert snapshot.open <= now  # never a future session
        # Amendments only touch dates after today, so the served session's
        # trailing sessions are the same in the calendar that built it and in this one.
        trailing = calendar.trailing_sessions(snapshot.session, 5)
        lo, hi = calendar.open_at(trailing[0]), calendar.close_at(trailing[-1])
        lo_ns, hi_ns = lo.int_timestamp * 10**9, hi.int_timestamp * 10**9
        assert snapshot.open == calendar.open_at(snapshot.session)
        for symbol in snapshot.symbols:
            for interval in ("1m", "1d"):
                bars = snapshot.data.get((symbol, interval))
                assert (symbol, interval) in snapshot.report.entries
                if bars is not None and len(bars):
                    assert lo_ns <= int(bars.ts[0])
                    assert int(bars.ts[-1]) < hi_ns

    @invariant()
    def a_complete_snapshot_holds_every_bar_the_calendar_expects(self):
        if self.runtime is None:
            return
        try:
            snapshot = self.runtime.snapshot()
        except NoSnapshotError:
            return
        calendar = self.runtime.calendar
        in_progress = calendar.session_at(self.clock.now())
        trailing = calendar.trailing_sessions(snapshot.session, 5)
        if in_progress is not None and not self.store_failed:
            assert snapshot.report.complete
            active = self.runtime.symbols
            assert snapshot.symbols == tuple(sorted(active if active is not None else SYMBOLS))
        if snapshot.report.complete:
            minutes = sum(
                int((calendar.close_at(day) - calendar.open_at(day)).total_seconds()) // 60
                for day in trailing
            )
            assert set(snapshot.data) == {(s, i) for s in snapshot.symbols for i in ("1m", "1d")}
            for symbol in snapshot.symbols:
                assert len(snapshot.bars(symbol, "1d")) == len(trailing)
                assert len(snapshot.bars(symbol, "1m")) == minutes


    @invariant()
    def counts_add_up(self):
        if self.runtime is None:
            return
        status = self.runtime.status()
        p = status.progress
        assert min(p.done, p.failed, p.pending, p.total) >= 0
        assert p.done + p.failed + p.pending == p.total
        assert status.activations >= (1 if status.serving else 0)
        assert [e.seq for e in status.events] == sorted(e.seq for e in status.events)

    def teardown(self):
        if self.runtime is not None:
            self.runtime.stop(30)
            self.store.close()


RuntimeMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_runtime_stateful = pytest.mark.slow(RuntimeMachine.TestCase)
