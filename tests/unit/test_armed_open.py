"""The armed open: a snapshot ready before its session is served from the open on.

The planner arms a snapshot frozen complete before the open and withdraws
it when it stops being the one to serve; the runtime answers a read past
the armed open with it before any thread has handled the open tick; the
open tick swaps it in at the SessionDataActor first, and the scheduler's
activation then only confirms it. Expected instants come from the published
NYSE schedule (tests/support/week.py), never from the calendar under test.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading

import numpy as np
import pendulum
import pytest
from support.week import XNYS, at, grid_bars

from preopen.actors import Planner
from preopen.actors.messages import (
    OPEN_LEAD_S,
    Activate,
    Arm,
    Disarm,
    ListSymbols,
    LoadBatch,
)
from preopen.clock import SimulatedClock, SystemClock, seconds_reader
from preopen.errors import NoSnapshotError
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store

DAY = dt.date(2024, 11, 26)
PREVIOUS = dt.date(2024, 11, 25)
NEXT = dt.date(2024, 11, 27)
SYMBOLS = ("AAA", "BBB", "CCC")
WAIT = 20.0


class Store:
    """Every symbol's 1m and 1d bars on 2024-11-11..12-03, answered at once."""

    def __init__(self) -> None:
        self.data = {(s, i): grid_bars(s, i, dt.date(2024, 11, 11), dt.date(2024, 12, 3),
                                       close=lambda n: np.full(n, 100.0))
                     for s in SYMBOLS for i in ("1m", "1d")}

    def load(self, symbols, interval, start, end):
        return {s: self.data[s, interval].between(start, end) for s in symbols}

    def symbols(self):
        return SYMBOLS


class PlannerDriver:
    """The scheduler's part: review the arm, then answer each order at once."""

    def __init__(self, planner: Planner, now: pendulum.DateTime) -> None:
        self.planner = planner
        self.store = Store()
        self.now = now
        self.orders: list[object] = []
        planner.set_calendar(XNYS, now)
        self.drain()

    def drain(self, *, answer: bool = True) -> None:
        planner = self.planner
        planner.review_arm()
        while planner.outbox:
            _, order = planner.outbox.pop(0)
            self.orders.append(order)
            match order:
                case LoadBatch(batch=batch, start=start, end=end) if answer:
                    planner.loaded(batch.request_id,
                                   self.store.load(batch.symbols, batch.interval, start, end))
                case ListSymbols(request_id=request_id) if answer:
                    planner.symbols_listed(request_id, self.store.symbols())
                case Activate(snapshot=snapshot, symbols=count):
                    planner.activated(snapshot.session, count, 1e-6)
            planner.review_arm()

    def run_until(self, end: pendulum.DateTime) -> None:
        while (wake := self.planner.next_wake(self.now)) <= end:
            self.now = wake
            self.planner.tick(wake, 0.0)
            self.drain()
        self.now = end

    def of(self, kind: type) -> list:
        return [o for o in self.orders if isinstance(o, kind)]


def settings(**overrides) -> Settings:
    values = {"intervals": ("1m", "1d"), "trailing_days": 5, "loaders": 2, "batch_size": 2,
              "check_interval_minutes": 5}
    values.update(overrides)
    return Settings(**values)


# --- the planner: when it arms and withdraws ---------------------------------------


def test_a_snapshot_complete_before_the_open_is_armed_once_with_its_session_s_hours():
    driver = PlannerDriver(Planner(settings(), symbols=frozenset(SYMBOLS)), at(DAY, "08:00"))
    driver.run_until(at(DAY, "09:29"))
    arms = driver.of(Arm)
    assert len(arms) == 1
    armed = arms[0]
    assert armed.snapshot.session == DAY
    assert armed.snapshot.report.complete
    assert (armed.opens_at, armed.closes_at) == (at(DAY, "09:30"), at(DAY, "16:00"))
    assert armed.symbols == 3
    assert not driver.of(Disarm)
    driver.run_until(at(DAY, "09:31"))  # the open activates the armed snapshot itself
    assert [a.snapshot for a in driver.of(Activate)] == [armed.snapshot]
    assert len(driver.of(Arm)) == 1  # nothing armed again once open


def test_symbols_added_before_the_open_withdraw_the_arm_until_the_refreeze_arms_anew():
    planner = Planner(settings(), symbols=frozenset(SYMBOLS[:2]))
    driver = PlannerDriver(planner, at(DAY, "08:00"))
    driver.run_until(at(DAY, "09:00"))
    first = driver.of(Arm)[-1]
    assert first.symbols == 2
    planner.symbols_changed(frozenset(SYMBOLS), at(DAY, "09:00"))
    driver.drain(answer=False)  # CCC's loads are out: the armed snapshot lacks it
    assert driver.of(Disarm) == [Disarm(DAY)]
    for batch in [o for o in driver.of(LoadBatch) if "CCC" in o.batch.symbols]:
        planner.loaded(batch.batch.request_id, driver.store.load(
            batch.batch.symbols, batch.batch.interval, batch.start, batch.end))
    driver.drain()
    again = driver.of(Arm)[-1]
    assert again is not first
    assert again.snapshot.symbols == SYMBOLS


def test_an_amended_closure_withdraws_the_arm():
    planner = Planner(settings(), symbols=frozenset(SYMBOLS))
    driver = PlannerDriver(planner, at(DAY, "08:00"))
    driver.run_until(at(DAY, "09:00"))
    assert driver.of(Arm)
    planner.set_calendar(XNYS.amended(closures=[DAY]), at(DAY, "09:00"))
    driver.drain(answer=False)
    assert driver.of(Disarm) == [Disarm(DAY)]


@pytest.mark.parametrize("overrides", [{"auto_activate": False}], ids=["auto_activate off"])
def test_a_host_that_activates_itself_gets_nothing_armed(overrides):
    driver = PlannerDriver(Planner(settings(**overrides), symbols=frozenset(SYMBOLS)),
                           at(DAY, "08:00"))
    driver.run_until(at(DAY, "09:45"))
    assert not driver.of(Arm)
    assert not driver.of(Activate)


def test_arm_is_due_from_the_open_until_the_close():
    driver = PlannerDriver(Planner(settings(), symbols=frozenset(SYMBOLS)), at(DAY, "08:00"))
    driver.run_until(at(DAY, "09:29"))
    armed = driver.of(Arm)[0]
    second = dt.timedelta(microseconds=1)
    assert not armed.due((at(DAY, "09:30") - second).timestamp())
    assert armed.due(at(DAY, "09:30").timestamp())
    assert armed.due((at(DAY, "16:00") - second).timestamp())
    assert not armed.due(at(DAY, "16:00").timestamp())


def test_seconds_reader_reads_each_clock_as_its_now():
    clock = SimulatedClock(at(DAY, "09:30"))
    read = seconds_reader(clock)
    assert read() == at(DAY, "09:30").timestamp()
    clock.advance_to(at(DAY, "09:31"))
    assert read() == at(DAY, "09:31").timestamp()
    shown = ShownClock(at(DAY, "09:00"))
    shown.shown = at(DAY, "12:00")
    assert seconds_reader(shown)() == at(DAY, "12:00").timestamp()


# --- the runtime: a read past the open, the open tick, callbacks ---------------------


class ShownClock:
    """A host's own clock: ``now()`` shows ``shown``; alarms ring on a simulated clock.

    Moving ``shown`` past the open without moving the simulated clock is the
    instant after the open before any preopen thread has handled its tick.
    """

    def __init__(self, start: pendulum.DateTime) -> None:
        self.sim = SimulatedClock(start, settle_timeout=WAIT)
        self.shown: pendulum.DateTime | None = None

    def now(self) -> pendulum.DateTime:
        return self.shown if self.shown is not None else self.sim.now()

    def alarm(self, deliver, *, name="alarm"):
        return self.sim.alarm(deliver, name=name)

    def advance_to(self, instant: pendulum.DateTime) -> None:
        self.shown = None
        self.sim.advance_to(instant)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('armed') / 'bars.db'}"
    store = open_store(url, create=True)
    for interval in ("1m", "1d"):
        store.write(interval, {s: grid_bars(s, interval, dt.date(2024, 11, 11), NEXT,
                                            close=lambda n: np.full(n, 10.0))
                               for s in SYMBOLS})
    store.close()
    return url


def small(url: str, **overrides) -> Settings:
    values = {"store": url, "symbols": SYMBOLS[:2], "loaders": 1, "intervals": ("1m",),
              "trailing_days": 2}
    values.update(overrides)
    return Settings(**values)


def test_a_read_past_the_open_serves_the_armed_snapshot_before_the_tick_is_handled(store_url):
    clock = ShownClock(at(PREVIOUS, "15:00"))
    seen: list[tuple[dt.date, int]] = []
    with Runtime.start(small(store_url), clock=clock, timeout=WAIT) as runtime:
        runtime.on_activated(lambda s: seen.append((s.session, runtime.status().activations)))
        clock.advance_to(at(DAY, "09:29"))  # the prefetch is done, the open not yet come
        assert runtime.snapshot().session == PREVIOUS
        fallbacks = runtime.status().fallbacks  # a start mid-session loads at once
        clock.shown = at(DAY, "09:30")  # the open: no tick delivered yet
        early = runtime.snapshot()
        assert early.session == DAY
        assert runtime.status().serving == PREVIOUS  # nothing in preopen has run
        clock.advance_to(at(DAY, "09:30"))  # the tick: the swap, then the confirmation
        assert runtime.snapshot() is early
        status = runtime.status()
        assert (status.serving, status.activations) == (DAY, 2)
        assert status.activation_latency_s is not None
        assert status.activation_latency_s > 0
        assert status.fallbacks == fallbacks
    # Once, before the scheduler counts it (PREVIOUS may have opened before the callback).
    assert seen[-1] == (DAY, 1)
    assert [session for session, _ in seen].count(DAY) == 1


def test_an_amended_closure_of_the_armed_session_is_not_served_at_its_open(store_url):
    clock = ShownClock(at(PREVIOUS, "15:00"))
    with Runtime.start(small(store_url), clock=clock, timeout=WAIT) as runtime:
        clock.advance_to(at(DAY, "09:29"))
        runtime.amend_calendar(closures=[DAY], timeout=WAIT)
        clock.shown = at(DAY, "09:30")
        assert runtime.snapshot().session == PREVIOUS
        clock.advance_to(at(DAY, "09:30"))
        assert runtime.snapshot().session == PREVIOUS
        assert runtime.status().session == NEXT


def test_a_stopped_runtime_serves_nothing_armed(store_url):
    clock = ShownClock(at(DAY, "08:00"))
    runtime = Runtime.start(small(store_url), clock=clock, timeout=WAIT)
    try:
        clock.advance_to(at(DAY, "09:29"))
        clock.shown = at(DAY, "09:30")
        assert runtime.snapshot().session == DAY  # armed, and its open has come
    finally:
        runtime.stop(WAIT)
    with pytest.raises(NoSnapshotError):
        runtime.snapshot()  # stopped before the open was handled: nothing was activated


class GatedStore(Store):
    """The in-memory store; a load naming CCC waits for ``gate``."""

    url = "memory://gated"

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def load(self, symbols, interval, start, end):
        if "CCC" in symbols:
            assert self.gate.wait(WAIT)
        return super().load(symbols, interval, start, end)

    def close(self):
        self.gate.set()


def test_a_symbol_added_as_the_open_swaps_takes_the_swap_back_until_it_is_loaded():
    """The open swaps the armed snapshot in while the scheduler is busy, and the new
    symbol's withdrawal of the arm reaches the SessionDataActor after the swap: the
    swap is taken back (the session has no complete data yet, as with any fallback),
    and the follow-up with the new symbol is activated once loaded."""
    clock = ShownClock(at(PREVIOUS, "15:00"))
    store = GatedStore()
    held, release, swapped = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[str, ...]] = []

    def callback(snapshot):
        seen.append(snapshot.symbols)
        swapped.set()

    with Runtime.start(small("sqlite:///unused.db"), clock=clock, store=store,
                       timeout=WAIT) as runtime:
        clock.advance_to(at(DAY, "09:29"))
        runtime.on_activated(callback)

        def block(_status):
            if not held.is_set():
                held.set()
                release.wait(WAIT)  # the scheduler's thread, in its publish

        runtime.subscribe_status(block)
        done: queue.Queue = queue.Queue()

        def in_thread(call):
            threading.Thread(target=lambda: done.put(call()), daemon=True).start()

        in_thread(lambda: runtime.amend_calendar(closures=[dt.date(2024, 12, 3)],
                                                 timeout=WAIT))
        assert held.wait(WAIT)  # the scheduler is held in its publish
        in_thread(lambda: runtime.set_symbols(SYMBOLS, timeout=WAIT))
        while runtime.symbols != frozenset(SYMBOLS):  # the set is the SessionDataActor's
            assert not release.wait(0.001)
        fallbacks = runtime.status().fallbacks
        in_thread(lambda: clock.advance_to(at(DAY, "09:30")))
        assert swapped.wait(WAIT)  # the armed snapshot, swapped in at the open
        assert seen == [SYMBOLS[:2]]
        release.set()
        runtime.wait_for(lambda status: status.fallbacks > fallbacks, timeout=WAIT)
        deadline = threading.Event()
        for _ in range(int(WAIT * 1000)):  # the withdrawal and the retirement, told already
            try:
                runtime.snapshot()
            except NoSnapshotError:
                break
            deadline.wait(0.001)
        else:
            pytest.fail("the swap of the withdrawn snapshot was not taken back")
        store.gate.set()  # CCC loads
        for _ in range(3):
            done.get(timeout=WAIT)
        runtime.settle(timeout=WAIT)
        assert runtime.snapshot().symbols == SYMBOLS
        status = runtime.status()
        assert (status.serving, status.last_error) == (DAY, None)
    assert seen == [SYMBOLS[:2], SYMBOLS]


# --- a real-time clock: the SessionDataActor woken ahead of the open ------------------


class HeldAlarm:
    """The scheduler's alarm, delivered only when the test says so."""

    def __init__(self, deliver) -> None:
        self.deliver = deliver
        self.due = None

    def wake_at(self, instant) -> None:
        self.due = instant

    def cancel(self) -> None:
        self.due = None


class ManualRealClock(SystemClock):
    """A real-time clock (so the tree wakes the SessionDataActor ahead of an armed open)
    whose time is set by the test: the scheduler's ticks are held, the open alarm is the
    system clock's own, asked again after each move."""

    def __init__(self, start: pendulum.DateTime) -> None:
        super().__init__()
        self.at = start.timestamp()
        self.held: HeldAlarm | None = None
        self.open_alarm = None
        self.open_due = None
        self.spinning = threading.Event()  # the SessionDataActor read the clock

    def seconds(self) -> float:
        if threading.current_thread().name == "preopen-session_data":
            self.spinning.set()
        return self.at

    def now(self) -> pendulum.DateTime:
        return pendulum.from_timestamp(self.at, tz="UTC")

    def alarm(self, deliver, *, name="alarm"):
        if name == "preopen-tick":
            self.held = HeldAlarm(deliver)
            return self.held
        clock = self
        real = super().alarm(deliver, name=name)

        class Recorded:
            thread = real.thread

            def wake_at(self, instant) -> None:
                clock.open_due = instant
                real.wake_at(instant)

            def cancel(self) -> None:
                real.cancel()

        self.open_alarm = real
        return Recorded()

    def move_to(self, instant: pendulum.DateTime) -> None:
        self.at = instant.timestamp()
        if self.open_due is not None:
            self.open_alarm.wake_at(self.open_due)  # look again


def test_a_real_time_clock_swaps_the_armed_snapshot_at_the_open_before_the_tick(store_url):
    clock = ManualRealClock(at(DAY, "09:00"))
    seen: list[dt.date] = []
    called = threading.Event()

    def callback(snapshot):
        seen.append(snapshot.session)
        called.set()

    with Runtime.start(small(store_url), clock=clock, timeout=WAIT) as runtime:
        runtime.on_activated(callback)
        runtime.settle(timeout=WAIT)  # prefetched and armed; the open alarm set
        assert clock.open_due == at(DAY, "09:30") - dt.timedelta(seconds=OPEN_LEAD_S)
        clock.spinning.clear()
        clock.move_to(clock.open_due)  # the open alarm rings; the actor spins
        assert clock.spinning.wait(WAIT)
        assert not called.is_set()  # not before the open
        clock.move_to(at(DAY, "09:30"))
        assert called.wait(WAIT)  # swapped at the open, with no tick delivered
        assert seen == [DAY]
        assert runtime.snapshot().session == DAY
        clock.held.deliver(at(DAY, "09:30"), None)  # the tick, late: it only confirms
        runtime.settle(timeout=WAIT)
        status = runtime.status()
        assert (status.serving, status.activations, status.fallbacks) == (DAY, 1, 0)
    assert seen == [DAY]


def test_a_real_time_clock_that_does_not_reach_the_open_leaves_the_swap_to_the_tick(store_url):
    clock = ManualRealClock(at(DAY, "09:00"))
    seen: list[dt.date] = []
    with Runtime.start(small(store_url), clock=clock, timeout=WAIT) as runtime:
        runtime.on_activated(lambda snapshot: seen.append(snapshot.session))
        runtime.settle(timeout=WAIT)
        clock.move_to(clock.open_due)  # rings; the actor spins, the time stands still
        runtime.settle(timeout=WAIT)  # it gave up after 2 x OPEN_LEAD_S
        assert seen == []
        clock.move_to(at(DAY, "09:30"))
        clock.held.deliver(at(DAY, "09:30"), None)
        runtime.settle(timeout=WAIT)
        assert seen == [DAY]
        assert runtime.status().serving == DAY
