"""The clocks: simulated delivery order, acknowledgement, system alarms."""

from __future__ import annotations

import datetime as dt
import queue
import threading

import pendulum
import pykka
import pytest

from preopen.clock import SPIN_S, Clock, SimulatedClock, SystemClock, as_utc
from preopen.errors import PreopenTimeoutError

NY = "America/New_York"
START = pendulum.datetime(2024, 11, 25, 8, 0, tz=NY)


class Consumer(pykka.ThreadingActor):
    """Handles ticks in its own thread, like the scheduler: records, re-arms, acks."""

    def __init__(self, clock: SimulatedClock, plan: list[pendulum.DateTime]) -> None:
        super().__init__()
        self.clock = clock
        self.plan = list(plan)
        self.seen: list[tuple[pendulum.DateTime, pendulum.DateTime]] = []
        self.alarm = clock.alarm(self.deliver, name="consumer")
        if self.plan:
            self.alarm.wake_at(self.plan.pop(0))

    def deliver(self, now, ack):
        self.actor_ref.tell(("tick", now, ack))

    def on_receive(self, message):
        if message == "seen":
            return list(self.seen)
        _, now, ack = message
        self.seen.append((now, self.clock.now()))
        if self.plan:
            self.alarm.wake_at(self.plan.pop(0))
        ack.set_result(None)
        return None


@pytest.fixture
def consumer_factory():
    refs = []

    def make(clock, plan):
        ref = Consumer.start(clock, plan)
        refs.append(ref)
        return ref

    yield make
    for ref in refs:
        ref.stop(block=True, timeout=5)


def test_clocks_satisfy_the_protocol():
    assert isinstance(SimulatedClock(START), Clock)
    assert isinstance(SystemClock(), Clock)


def test_simulated_clock_stands_still_until_advanced():
    clock = SimulatedClock(START)
    assert clock.now() == START
    assert clock.now() == START
    assert clock.now().timezone_name == "UTC"


def test_advance_delivers_due_ticks_in_order_at_their_instants(consumer_factory):
    clock = SimulatedClock(START)
    plan = [START.add(minutes=30), START.add(minutes=90), START.add(minutes=91)]
    ref = consumer_factory(clock, plan)
    delivered = clock.advance(dt.timedelta(hours=1))
    assert delivered == 1
    assert clock.now() == START.add(hours=1)
    delivered = clock.advance_to(START.add(hours=2))
    assert delivered == 2
    seen = ref.ask("seen", timeout=5)
    # Each tick carries its due instant, and the clock reads that instant meanwhile.
    assert [s[0] for s in seen] == plan
    assert [s[1] for s in seen] == plan


def test_a_wake_up_at_or_before_now_is_delivered_now(consumer_factory):
    clock = SimulatedClock(START)
    ref = consumer_factory(clock, [START.subtract(minutes=5)])
    assert clock.advance(dt.timedelta(0)) == 1
    assert ref.ask("seen", timeout=5) == [(START, START)]


def test_a_later_request_replaces_the_earlier_one(consumer_factory):
    clock = SimulatedClock(START)
    ref = consumer_factory(clock, [])
    alarm = ref.proxy().alarm.get(timeout=5)
    alarm.wake_at(START.add(minutes=10))
    alarm.wake_at(START.add(minutes=20))
    assert clock.next_due() == START.add(minutes=20)
    assert clock.advance(dt.timedelta(hours=1)) == 1
    assert [s[0] for s in ref.ask("seen", timeout=5)] == [START.add(minutes=20)]


def test_two_alarms_interleave_by_instant(consumer_factory):
    clock = SimulatedClock(START)
    a = consumer_factory(clock, [START.add(minutes=10), START.add(minutes=40)])
    b = consumer_factory(clock, [START.add(minutes=20)])
    assert clock.advance(dt.timedelta(hours=1)) == 3
    assert [s[0] for s in a.ask("seen", timeout=5)] == [
        START.add(minutes=10), START.add(minutes=40)]
    assert [s[0] for s in b.ask("seen", timeout=5)] == [START.add(minutes=20)]


def test_a_consumer_that_never_acknowledges_times_out():
    clock = SimulatedClock(START, settle_timeout=0.05)
    alarm = clock.alarm(lambda now, ack: None, name="mute")
    alarm.wake_at(START.add(minutes=1))
    with pytest.raises(PreopenTimeoutError, match="mute"):
        clock.advance(dt.timedelta(minutes=5))


def test_a_cancelled_alarm_is_not_delivered():
    clock = SimulatedClock(START)
    calls = []
    alarm = clock.alarm(lambda now, ack: calls.append(now), name="gone")
    alarm.wake_at(START.add(minutes=1))
    alarm.cancel()
    assert clock.advance(dt.timedelta(minutes=5)) == 0
    assert calls == []


def test_the_clock_only_moves_forward():
    clock = SimulatedClock(START)
    with pytest.raises(ValueError, match="before the clock's now"):
        clock.advance_to(START.subtract(seconds=1))
    with pytest.raises(ValueError, match="negative"):
        clock.advance(dt.timedelta(seconds=-1))


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="naive"):
        SimulatedClock(dt.datetime(2024, 11, 25, 9, 30))
    with pytest.raises(ValueError, match="naive"):
        as_utc(dt.datetime(2024, 11, 25, 9, 30))


def test_a_consumer_asking_for_the_past_forever_is_stopped():
    clock = SimulatedClock(START)
    holder = {}

    def deliver(now, ack):
        holder["alarm"].wake_at(now)  # always due again
        ack.set_result(None)

    holder["alarm"] = clock.alarm(deliver)
    holder["alarm"].wake_at(START)
    with pytest.raises(RuntimeError, match="max_ticks=10"):
        clock.advance(dt.timedelta(minutes=1), max_ticks=10)


def test_system_alarm_delivers_and_its_thread_ends_on_cancel():
    clock = SystemClock()
    fired: queue.Queue = queue.Queue()
    alarm = clock.alarm(lambda now, ack: fired.put((now, ack)), name="t")
    before = clock.now()
    alarm.wake_at(before.add(microseconds=1000))
    now, ack = fired.get(timeout=5)
    assert ack is None
    assert now >= before.add(microseconds=1000)
    thread = alarm.thread
    assert thread.is_alive()
    assert not thread.daemon
    alarm.cancel()
    assert not thread.is_alive()
    assert thread not in threading.enumerate()


def test_system_alarm_survives_a_failing_consumer():
    clock = SystemClock()
    fired: queue.Queue = queue.Queue()

    def deliver(now, ack):
        fired.put(now)
        raise RuntimeError("consumer bug")

    alarm = clock.alarm(deliver)
    alarm.wake_at(clock.now())
    fired.get(timeout=5)
    alarm.wake_at(clock.now())
    fired.get(timeout=5)
    alarm.cancel()
    assert alarm.errors == 2


def test_system_clock_offset_is_kept():
    clock = SystemClock(offset=dt.timedelta(hours=-3))
    assert clock.offset == dt.timedelta(hours=-3)
    assert clock.now().timezone_name == "UTC"


class SteppingClock(SystemClock):
    """A system clock whose time moves only when read: 0.25 ms a reading."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0
        self.start = 1_732_631_400.0  # 2024-11-26 14:30 UTC

    def seconds(self) -> float:
        self.readings += 1
        return self.start + self.readings * 0.00025

    def now(self):
        return pendulum.from_timestamp(self.seconds(), tz="UTC")


def test_system_alarm_spinning_the_last_stretch_fires_at_the_first_reading_past_the_due():
    clock = SteppingClock()
    fired: queue.Queue = queue.Queue()
    alarm = clock.alarm(lambda now, ack: fired.put(now), name="spin")
    due = clock.start + 0.5 * SPIN_S  # inside the spin window from the first look
    alarm.wake_at(pendulum.from_timestamp(due, tz="UTC"))
    now = fired.get(timeout=5)
    alarm.cancel()
    assert due <= now.timestamp() < due + 2 * 0.00025  # the reading past it, or the next


class SteppedClock(SystemClock):
    """A system clock read from a script: each reading takes the next value, the last repeats."""

    def __init__(self, readings: list[float]) -> None:
        super().__init__()
        self.readings = readings

    def seconds(self) -> float:
        if len(self.readings) > 1:
            return self.readings.pop(0)
        return self.readings[0]

    def now(self):
        return pendulum.from_timestamp(self.seconds(), tz="UTC")


def test_a_clock_stepping_forward_while_the_timer_spins_is_delivered_as_its_now():
    due = 1_732_631_400.0  # 2024-11-26 14:30 UTC
    # The wait's reading and the lateness's are just before the due; then the clock
    # steps an hour forward (NTP, a resumed machine) while the timer spins.
    clock = SteppedClock([due - 0.001, due - 0.001, due + 3600.0])
    fired: queue.Queue = queue.Queue()
    alarm = clock.alarm(lambda now, ack: fired.put(now), name="stepped")
    alarm.wake_at(pendulum.from_timestamp(due, tz="UTC"))
    now = fired.get(timeout=5)
    alarm.cancel()
    assert now.timestamp() == due + 3600.0  # not the stale due: the scheduler plans from now
