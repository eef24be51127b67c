"""The scheduler's decisions (Planner), over a week with a holiday and an early close.

No actor and no thread: ticks come from the planner's own next wake-up, the
commands it emits are answered at once from an in-memory store. Expected
instants and counts are the published NYSE schedule for 2024-11-25..12-03:
Thanksgiving (Thu 11-28) closed, Fri 11-29 closes at 13:00, regular hours
09:30-16:00 America/New_York otherwise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pendulum
import pytest
from support.week import NY, TRAILING_5, WEEK, XNYS, at, grid_bars

from preopen.actors import ChildKey, Planner, Role
from preopen.actors.messages import Activate, ListSymbols, LoadBatch, Retire
from preopen.calendar.timing import Phase
from preopen.settings import Settings
from preopen.status import EventKind

CAL = XNYS
SYMBOLS = ("AAA", "BBB", "CCC")
SESSIONS = WEEK
TRAILING = TRAILING_5


class MemoryStore:
    """Bars on every session of a range: 1m through each session, one 1d bar at its open."""

    def __init__(self, symbols, first, last):
        self.data = {}
        for interval in ("1m", "1d"):
            for symbol in symbols:
                self.data[symbol, interval] = grid_bars(
                    symbol, interval, first, last, close=lambda n: np.full(n, 100.0))
        self.calls = 0

    def load(self, symbols, interval, start, end):
        self.calls += 1
        return {s: self.data[s, interval].between(start, end)
                for s in symbols if (s, interval) in self.data}

    def symbols(self):
        return tuple(sorted({s for s, _ in self.data}))


def config(**overrides):
    values = {
        "window_minutes": 60, "check_interval_minutes": 5,
        "intervals": ("1m", "1d"), "trailing_days": 5, "loaders": 2, "batch_size": 2,
        "max_attempts": 2,
    }
    values.update(overrides)
    return Settings(**values)


class Driver:
    """Runs a planner against a memory store, answering every command at once."""

    def __init__(self, planner, store, start, *, fail=lambda batch, now: None):
        self.planner = planner
        self.store = store
        self.now = start
        self.fail = fail
        self.served = None
        self.activations = []
        self.planner.set_calendar(CAL, start)
        self.drain()

    def drain(self):
        planner = self.planner
        while planner.outbox:
            _, command = planner.outbox.pop(0)
            match command:
                case LoadBatch(batch=batch, start=start, end=end):
                    error = self.fail(batch, self.now)
                    if error:
                        planner.load_failed(batch.request_id, error, transient=True)
                    else:
                        bars = self.store.load(batch.symbols, batch.interval, start, end)
                        planner.loaded(batch.request_id, bars)
                case ListSymbols(request_id=request_id):
                    planner.symbols_listed(request_id, self.store.symbols())
                case Activate(snapshot=snapshot, symbols=count):
                    assert count == len(snapshot.symbols)  # counted when it was frozen
                    # What the SessionDataActor checks: only the session in progress.
                    assert CAL.session_at(self.now) == snapshot.session
                    self.served = snapshot
                    self.activations.append((self.now, snapshot))
                    planner.activated(snapshot.session, len(snapshot.symbols), 1e-6)
                case Retire(session=session):
                    if self.served is not None and self.served.session < session:
                        self.served = None

    def run_until(self, end, check=None):
        while True:
            wake = self.planner.next_wake(self.now)
            if wake > end:
                self.now = end
                return
            assert wake > self.now
            self.now = wake
            self.planner.tick(wake, 0.0)
            self.drain()
            assert not self.planner.busy
            if check is not None:
                check(self)


def events(planner, kind):
    return [e for e in planner.status().events if e.kind == kind]


@pytest.fixture(scope="module")
def store():
    return MemoryStore(SYMBOLS, dt.date(2024, 11, 11), dt.date(2024, 12, 3))


def test_a_week_prefetches_at_open_minus_window_and_activates_at_each_open(store):
    planner = Planner(config(),
                      symbols=frozenset(SYMBOLS))
    start = pendulum.datetime(2024, 11, 24, 12, 0, tz=NY)  # a Sunday
    seen_phases = set()

    def check(driver):
        status = driver.planner.status()
        seen_phases.add(status.phase)
        served = driver.served
        session = CAL.session_at(driver.now)
        if session is not None:
            # Once a session is open, nothing but its own snapshot is served.
            assert served is not None
            assert served.session == session
        p = status.progress
        # Every command is answered at once and every load succeeds: between
        # ticks a load is either not started or every key of it is loaded.
        assert (p.done, p.failed, p.total) in ((0, 0, 0), (len(SYMBOLS) * 2, 0, len(SYMBOLS) * 2))
        assert p.pending == 0

    driver = Driver(planner, store, start)
    driver.run_until(pendulum.datetime(2024, 12, 3, 17, 0, tz=NY), check)
    starts = [(e.session, e.at) for e in events(planner, EventKind.PREFETCH_STARTED)]
    assert starts == [(day, at(day, "08:30")) for day in SESSIONS]
    assert [(when, s.session) for when, s in driver.activations] == [
        (at(day, SESSIONS[day][0]), day) for day in SESSIONS]
    assert seen_phases == {Phase.IDLE, Phase.PREFETCHING, Phase.OPEN, Phase.CLOSED}
    ended = [(e.session, e.at) for e in events(planner, EventKind.SESSION_ENDED)]
    assert ended == [(day, at(day, SESSIONS[day][1])) for day in SESSIONS]
    assert planner.status().fallbacks == 0
    for _, snapshot in driver.activations:
        trailing = TRAILING[snapshot.session]
        assert snapshot.open == at(snapshot.session, SESSIONS[snapshot.session][0])
        assert snapshot.report.complete
        assert snapshot.symbols == SYMBOLS
        for symbol in SYMBOLS:
            expected = store.data[symbol, "1m"].between(CAL.open_at(trailing[0]),
                                                         CAL.close_at(trailing[-1]))
            assert snapshot.bars(symbol, "1m").equals(expected)
            assert len(snapshot.bars(symbol, "1d")) == 5
    # The early close: 2024-11-29 has 210 one-minute bars per symbol (09:30-13:00).
    dec2 = next(s for _, s in driver.activations if s.session == dt.date(2024, 12, 2))
    bars = dec2.bars("AAA", "1m")
    nov29 = bars.between(at(dt.date(2024, 11, 29), "09:30"), at(dt.date(2024, 11, 29), "16:00"))
    assert len(nov29) == 210
    assert len(bars) == 4 * 390 + 210


def test_a_prefetch_that_fails_all_window_falls_back_at_the_open(store):
    planner = Planner(config(),
                      symbols=frozenset(SYMBOLS))
    day = dt.date(2024, 11, 26)

    def fail(batch, now):
        return "connection refused" if now < at(day, "09:30") else None

    driver = Driver(planner, store, at(day, "08:00"), fail=fail)
    driver.run_until(at(day, "09:29"))
    status = planner.status()
    assert status.progress.failed == 6
    assert status.failed_symbols == SYMBOLS
    assert driver.served is None
    retries = events(planner, EventKind.RETRY)
    assert len(retries) >= 10  # retried at each check tick of the window
    driver.run_until(at(day, "09:31"))
    assert [(w, s.session) for w, s in driver.activations] == [(at(day, "09:30"), day)]
    assert driver.served.report.complete
    status = planner.status()
    assert status.fallbacks == 1
    fallback = events(planner, EventKind.FALLBACK)
    assert [e.at for e in fallback] == [at(day, "09:30")]
    assert "prefetch failed for 6 keys" in fallback[0].detail


def test_a_runtime_started_mid_session_loads_at_once(store):
    planner = Planner(config(), symbols=None)
    day = dt.date(2024, 11, 27)
    # Planning starts as soon as the calendar is known: here, a load at once.
    driver = Driver(planner, store, at(day, "11:00"))
    assert [(w, s.session) for w, s in driver.activations] == [(at(day, "11:00"), day)]
    assert driver.served.symbols == SYMBOLS  # every symbol in the store, listed first
    assert "prefetch not started" in events(planner, EventKind.FALLBACK)[0].detail


def test_symbols_added_after_the_open_make_a_follow_up_snapshot(store):
    planner = Planner(config(),
                      symbols=frozenset({"AAA"}))
    day = dt.date(2024, 11, 25)
    driver = Driver(planner, store, at(day, "08:00"))
    driver.run_until(at(day, "10:00"))
    assert driver.served.symbols == ("AAA",)
    planner.symbols_changed(frozenset({"AAA", "CCC"}), at(day, "10:00"))
    driver.drain()
    assert driver.served.session == day
    assert driver.served.symbols == ("AAA", "CCC")
    assert len(driver.activations) == 2
    assert planner.status().activations == 2


def test_symbols_added_in_the_window_join_the_snapshot_before_the_open(store):
    planner = Planner(config(),
                      symbols=frozenset({"AAA"}))
    day = dt.date(2024, 11, 25)
    driver = Driver(planner, store, at(day, "08:00"))
    driver.run_until(at(day, "09:00"))
    planner.symbols_changed(frozenset({"AAA", "BBB"}), at(day, "09:00"))
    driver.drain()
    assert driver.activations == []
    driver.run_until(at(day, "09:31"))
    assert [s.symbols for _, s in driver.activations] == [("AAA", "BBB")]


def test_an_amended_closure_re_plans_to_the_next_session(store):
    planner = Planner(config(),
                      symbols=frozenset(SYMBOLS))
    day = dt.date(2024, 11, 26)
    driver = Driver(planner, store, at(day, "08:45"))
    driver.run_until(at(day, "08:50"))
    assert planner.status().session == day
    planner.set_calendar(CAL.amended(closures=[day]), at(day, "08:50"))
    driver.drain()
    status = planner.status()
    assert status.session == dt.date(2024, 11, 27)
    assert status.prefetch_start == at(dt.date(2024, 11, 27), "08:30")
    assert events(planner, EventKind.CALENDAR)


def test_auto_activate_off_waits_for_the_host(store):
    planner = Planner(config(auto_activate=False),
                      symbols=frozenset(SYMBOLS))
    day = dt.date(2024, 11, 25)
    driver = Driver(planner, store, at(day, "08:00"))
    driver.run_until(at(day, "09:45"))
    assert driver.activations == []
    snapshot = planner.activate_now()
    driver.drain()
    assert snapshot is not None
    assert driver.served is snapshot


def test_a_restarted_loader_s_batches_are_sent_again(store):
    planner = Planner(config(),
                      symbols=frozenset(SYMBOLS))
    day = dt.date(2024, 11, 25)
    planner.set_calendar(CAL, at(day, "08:30"))
    sent = [(key, c) for key, c in planner.outbox if isinstance(c, LoadBatch)]
    planner.outbox.clear()
    on_zero = [(c.batch.symbols, c.batch.interval) for key, c in sent
               if key == ChildKey(Role.LOADER, 0)]
    planner.child_restarted(ChildKey(Role.LOADER, 0), 1, "RuntimeError: boom")
    resent = [c for _, c in planner.outbox if isinstance(c, LoadBatch)]
    assert sorted((c.batch.symbols, c.batch.interval) for c in resent) == sorted(on_zero)
    # Only the batch the loader died on (its oldest) spends an attempt.
    attempts = {(c.batch.symbols, c.batch.interval): c.batch.attempt for c in resent}
    assert [attempts[s] for s in on_zero] == [2] + [1] * (len(on_zero) - 1)
    assert planner.status().restarts == 1


def test_every_symbol_again_after_a_smaller_set_makes_a_follow_up_with_all_of_them(store):
    # Found by the stateful test: the load already holds every key, so the
    # listing adds nothing, and the snapshot must still grow back.
    planner = Planner(config(), symbols=frozenset(SYMBOLS))
    day = dt.date(2024, 11, 25)
    driver = Driver(planner, store, at(day, "09:30"))
    assert driver.served.symbols == SYMBOLS
    planner.symbols_changed(frozenset({"AAA"}), at(day, "09:40"))
    driver.drain()
    assert driver.served.symbols == ("AAA",)
    planner.symbols_changed(None, at(day, "09:50"))
    driver.drain()
    assert driver.served.symbols == SYMBOLS
    assert len(driver.activations) == 3
