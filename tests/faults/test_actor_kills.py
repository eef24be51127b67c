"""The SessionDataActor and the SchedulerActor killed at random moments of a simulated week.

Hypothesis chooses when (which 30-minute step of 2024-11-24 12:00 ..
2024-12-03 17:00) and whom to kill. No session may be skipped, and none
may be served with another day's data: while a session is open only its own
snapshot is served, and each snapshot holds exactly the bars of its own
trailing sessions (answer data below).
"""

from __future__ import annotations

import datetime as dt
import queue

import numpy as np
import pytest
from _faulty import crash
from _world import WAIT, Started, seed_sqlite, settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support.week import WEEK, XNYS, at

from preopen.clock import SimulatedClock
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import symbol_names

NAMES = tuple(symbol_names(6))
STEP = dt.timedelta(minutes=30)
FIRST = at(dt.date(2024, 11, 24), "12:00")
LAST = at(dt.date(2024, 12, 3), "17:00")
STEPS = int((LAST - FIRST).total_seconds() // STEP.total_seconds())
# Answer data: the two sessions before each session of the week (Thanksgiving skipped).
TRAILING = {
    dt.date(2024, 11, 25): (dt.date(2024, 11, 21), dt.date(2024, 11, 22)),
    dt.date(2024, 11, 26): (dt.date(2024, 11, 22), dt.date(2024, 11, 25)),
    dt.date(2024, 11, 27): (dt.date(2024, 11, 25), dt.date(2024, 11, 26)),
    dt.date(2024, 11, 29): (dt.date(2024, 11, 26), dt.date(2024, 11, 27)),
    dt.date(2024, 12, 2): (dt.date(2024, 11, 27), dt.date(2024, 11, 29)),
    dt.date(2024, 12, 3): (dt.date(2024, 11, 29), dt.date(2024, 12, 2)),
}
WORLD: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def world(tmp_path_factory):
    url, written = seed_sqlite(tmp_path_factory.mktemp("kills") / "bars.db", len(NAMES))
    store = open_store(url, create=True)
    WORLD.update(url=url, store=store, written=written["5m"])
    yield
    store.close()
    WORLD.clear()


def check_snapshot(snapshot):
    """Exactly the bars of the snapshot's own two trailing sessions, all of them."""
    first, last = TRAILING[snapshot.session]
    start, end = XNYS.open_at(first), XNYS.close_at(last)
    assert snapshot.symbols == NAMES
    assert snapshot.report.complete
    for name in NAMES:
        bars = snapshot.bars(name, "5m")
        assert bars.equals(WORLD["written"][name].between(start, end))
        ns = np.array([start.int_timestamp, end.int_timestamp]) * 10**9
        assert bool(np.all((bars.ts >= ns[0]) & (bars.ts < ns[1])))


kills = st.dictionaries(st.integers(0, STEPS - 1), st.sampled_from(["session_data", "scheduler"]),
                        min_size=1, max_size=12)


@pytest.mark.slow
@hsettings(max_examples=4, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=kills)
def test_no_session_is_skipped_or_served_with_another_day_s_data(plan):
    started = Started()
    try:
        clock = SimulatedClock(FIRST)
        runtime = started(settings(WORLD["url"], symbols=NAMES, restart_period_s=0.001),
                          clock=clock, store=WORLD["store"])
        activated: queue.Queue = queue.Queue()
        runtime.on_activated(lambda snapshot: activated.put((clock.now(), snapshot)))
        opened = None
        for step in range(STEPS):
            if step in plan:
                crash(runtime, plan[step])
            clock.advance(STEP)
            session = XNYS.session_at(clock.now())
            served = runtime._session.state.snapshot  # what runtime.snapshot() returns
            if session is not None:
                opened = session
                assert served is not None, f"nothing served at {clock.now()}"
                assert served.session == session
            elif served is not None:
                assert served.session == opened  # the last session, never a future one
        runtime.settle(timeout=WAIT)
        seen = []
        while not activated.empty():
            seen.append(activated.get_nowait())
        assert sorted({s.session for _, s in seen}) == sorted(WEEK)
        for when, snapshot in seen:
            assert XNYS.session_at(when) == snapshot.session  # served only during its session
            check_snapshot(snapshot)
        status = runtime.status()
        assert status.restarts == len(plan)
        assert status.running
        assert not [e for e in status.events if e.kind is EventKind.REFUSED]
    finally:
        started.stop_all()


def test_a_scheduler_killed_mid_session_adopts_the_served_snapshot():
    # The new incarnation finds the session's snapshot already served: it is
    # not a fallback, nothing is reloaded, and a symbol added later still is.
    day = dt.date(2024, 11, 26)
    started = Started()
    try:
        clock = SimulatedClock(at(day, "08:00"))
        runtime = started(settings(WORLD["url"], symbols=NAMES[:4]), clock=clock,
                          store=WORLD["store"])
        clock.advance_to(at(day, "10:00"))
        served = runtime.snapshot()
        loaded = runtime.status().bars_loaded
        crash(runtime, "scheduler")
        runtime.wait_for(lambda s: s.restarts == 1, timeout=WAIT)
        clock.advance_to(at(day, "11:00"))
        runtime.settle(timeout=WAIT)
        status = runtime.status()
        assert runtime.snapshot() is served
        assert status.fallbacks == 0
        assert status.activations == 1
        assert status.bars_loaded == loaded  # nothing reloaded
        runtime.set_symbols(NAMES[:5])
        runtime.settle(timeout=WAIT)
        follow_up = runtime.snapshot()
        assert follow_up.symbols == NAMES[:5]
        assert runtime.status().bars_loaded == loaded + 2 * 78  # answer: one symbol, 2 x 78 bars
        check = {name: follow_up.bars(name, "5m") for name in NAMES[:4]}
        # the same bars, not reloaded (copied into the follow-up's table, so not the same arrays)
        assert all(check[n].equals(served.bars(n, "5m")) for n in NAMES[:4])
    finally:
        started.stop_all()
