"""Clocks: the only place preopen reads market time.

A :class:`Clock` answers ``now()`` and hands out alarms. An alarm belongs to
one consumer (the runtime's scheduler): the consumer asks to be woken at an
instant with :meth:`Alarm.wake_at`, and the clock calls the alarm's delivery
function with the instant when it falls due. A later ``wake_at`` replaces the
earlier one: there is at most one pending wake-up per alarm.

:class:`SystemClock` is the real clock (optionally shifted by an offset, to
replay a morning). :class:`SimulatedClock` is moved by hand: ``advance`` and
``advance_to`` deliver every wake-up that falls due, in order, and after each
one wait until the consumer acknowledges that it has handled it and
everything it started. That makes a simulated week deterministic.

Nothing else in preopen calls ``datetime.now()``, ``pendulum.now()`` or
``time.time()``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol, cast, runtime_checkable

import pendulum

from preopen.errors import PreopenTimeoutError

__all__ = [
    "SPIN_S",
    "Alarm",
    "Clock",
    "Deliver",
    "SimulatedClock",
    "SystemClock",
    "as_utc",
    "seconds_reader",
    "spin_until",
]

#: What an alarm calls when it falls due: the instant, and an acknowledgement
#: (``None`` on a clock that does not wait for the consumer): a
#: :class:`concurrent.futures.Future` the consumer sets (``set_result(None)``)
#: once it has handled the wake-up and everything it started, or fails with
#: the reason it cannot. A clock needs no actor library to implement this.
Deliver = Callable[[pendulum.DateTime, "Future[None] | None"], None]


def as_utc(instant: dt.datetime) -> pendulum.DateTime:
    """Return ``instant`` as a pendulum DateTime in UTC.

    Raises:
        ValueError: the instant is naive (market time is always zone-aware).
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        msg = (
            f"instant {instant.isoformat()} is naive: accepted are time-zone aware "
            "datetimes (e.g. pendulum.datetime(..., tz='America/New_York'))"
        )
        raise ValueError(msg)
    return pendulum.instance(instant).in_timezone("UTC")


def seconds_reader(clock: Clock) -> Callable[[], float]:
    """A function reading ``clock`` as POSIX seconds, cheaply where the clock allows.

    A host's read of the served snapshot asks it before the open (is an
    armed snapshot due?), so it must cost well under a microsecond:
    ``pendulum.now`` costs about 12 us. A clock of the host's own is read
    through its ``seconds()`` if it has one, else through ``now()``.
    """
    seconds = getattr(clock, "seconds", None)
    if callable(seconds):
        return cast("Callable[[], float]", seconds)
    return lambda: clock.now().timestamp()


@runtime_checkable
class Alarm(Protocol):
    """One consumer's pending wake-up on a clock."""

    def wake_at(self, instant: dt.datetime) -> None:
        """Ask to be woken at ``instant`` (replaces any earlier request)."""

    def cancel(self) -> None:
        """Stop delivering; release whatever the alarm holds (e.g. a thread)."""


@runtime_checkable
class Clock(Protocol):
    """Where preopen reads market time."""

    def now(self) -> pendulum.DateTime:
        """The current instant, zone-aware (UTC)."""
        ...

    def alarm(self, deliver: Deliver, *, name: str = "alarm") -> Alarm:
        """Create an alarm that calls ``deliver`` when its wake-up falls due."""
        ...


class SystemClock:
    """The real clock, optionally shifted by a fixed offset.

    Each alarm runs one (non-daemon) thread that sleeps until the next
    wake-up; :meth:`Alarm.cancel` ends and joins it.

    Args:
        offset: added to the system time; a negative offset replays an
            earlier moment (e.g. ten seconds before an open) in real time.
    """

    def __init__(self, *, offset: dt.timedelta = dt.timedelta(0)) -> None:
        """Create the clock."""
        self.offset = offset

    def now(self) -> pendulum.DateTime:
        """The system time plus the offset, in UTC."""
        return pendulum.now("UTC") + self.offset

    def seconds(self) -> float:
        """:meth:`now` as POSIX seconds, without building a datetime."""
        return time.time() + self.offset.total_seconds()

    def alarm(self, deliver: Deliver, *, name: str = "alarm") -> Alarm:
        """Create an alarm with its own timer thread."""
        return _SystemAlarm(self, deliver, name)

    def __repr__(self) -> str:
        """Show the offset."""
        return f"SystemClock(offset={self.offset!r})"


# The timer thread never waits longer than this at once, so that a lost
# wake-up cannot leave it blocked forever.
_MAX_WAIT_S = 60.0
_STOP = object()

#: The timer thread sleeps until this long before a wake-up and spins the
#: rest, giving up the interpreter and the core at each turn: an OS timed wait on a busy
#: machine wakes late (0.4-0.5 ms at the median here, 3-4 ms in the worst
#: of 40, ``bench/open_realtime.py``), and the open must not. A wake-up
#: asked for or a cancel arriving while it spins waits at most this long.
SPIN_S = 0.005

def spin_until(read: Callable[[], float], until: float, *, at_most_s: float) -> bool:
    """Spin until ``read()`` reaches ``until``, giving up the core at each turn.

    Gives up after ``at_most_s`` seconds of ``time.perf_counter`` (a clock
    that does not move with real time never gets there). Returns whether
    ``until`` was reached.
    """
    give_up = time.perf_counter() + at_most_s
    while read() < until:
        if time.perf_counter() > give_up:
            return False
        _yield()
    return True


# One turn of a spin: sched_yield gives up the interpreter and the core
# for about a microsecond (a thread doing work beside it runs at full speed;
# time.sleep(0) takes about 60 us a turn here, so a tick would be that late).
_yield: Callable[[], None] = getattr(os, "sched_yield", lambda: time.sleep(0))


class _SystemAlarm:
    """An alarm on the system clock: one thread, fed through a queue."""

    def __init__(self, clock: SystemClock, deliver: Deliver, name: str) -> None:
        self._clock = clock
        self._deliver = deliver
        # The queue is the only channel into the timer thread: it owns `due`.
        self._requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"preopen-{name}", daemon=False)
        self._cancelled = False
        self.errors = 0
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The timer thread (for joining and accounting)."""
        return self._thread

    def wake_at(self, instant: dt.datetime) -> None:
        """Ask to be woken at ``instant`` (replaces any earlier request)."""
        self._requests.put(as_utc(instant))

    def cancel(self, timeout: float = 5.0) -> None:
        """End the timer thread and wait for it (at most ``timeout`` seconds).

        Raises:
            PreopenTimeoutError: the thread did not end in time.
        """
        if not self._cancelled:
            self._cancelled = True
            self._requests.put(_STOP)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise PreopenTimeoutError(f"stopping the clock thread {self._thread.name}", timeout)

    def _run(self) -> None:
        due: pendulum.DateTime | None = None
        due_s = 0.0  # ``due`` as POSIX seconds on the clock
        seconds = self._clock.seconds
        while True:
            wait = _MAX_WAIT_S
            if due is not None:
                wait = min(_MAX_WAIT_S, max(0.0, due_s - SPIN_S - seconds()))
            try:
                item = self._requests.get(timeout=wait)
            except queue.Empty:
                if due is not None and (late := seconds() - due_s) >= -SPIN_S:
                    # The last SPIN_S spun: no OS timer's lateness. A clock that
                    # does not get there in twice that (stepped back) is waited for again.
                    if not spin_until(seconds, due_s, at_most_s=2 * SPIN_S):
                        continue
                    # Reached by the spin, it is delivered with the instant it fell
                    # due (building the clock's datetime here took 0.15 ms); woken
                    # past it (a stall), or past it by more than a spin's turn
                    # once there (the clock stepped forward), with the clock's now.
                    on_time = late < 0 and seconds() - due_s < SPIN_S
                    fired, due = (due if on_time else self._clock.now()), None
                    self._fire(fired)
                continue
            if item is _STOP:
                return
            assert isinstance(item, pendulum.DateTime)  # noqa: S101 - only wake_at feeds the queue
            due, due_s = item, item.timestamp()

    def _fire(self, now: pendulum.DateTime) -> None:
        try:
            self._deliver(now, None)
        except Exception:  # noqa: BLE001 - a failing consumer must not kill the timer
            self.errors += 1


class SimulatedClock:
    """A clock moved by hand, for tests, the demo and replays.

    Time stands still until :meth:`advance` or :meth:`advance_to` moves it.
    Both deliver every wake-up that falls due on the way, earliest first; the
    clock reads the due instant while the consumer handles it, and waits for
    the consumer's acknowledgement (at most ``settle_timeout`` seconds)
    before it looks for the next one. One thread drives the clock.

    Args:
        start: the initial instant (zone-aware).
        settle_timeout: how long to wait for each acknowledgement.
    """

    def __init__(self, start: dt.datetime, *, settle_timeout: float = 60.0) -> None:
        """Create the clock at ``start``."""
        self._now = as_utc(start)
        self._seconds = self._now.timestamp()  # follows _now: see _move
        self.settle_timeout = settle_timeout
        self._alarms: tuple[_SimulatedAlarm, ...] = ()
        self.ticks_delivered = 0

    def now(self) -> pendulum.DateTime:
        """The simulated instant, in UTC."""
        return self._now

    def seconds(self) -> float:
        """:meth:`now` as POSIX seconds."""
        return self._seconds

    def _move(self, instant: pendulum.DateTime) -> None:
        # The datetime first: a reader of seconds() past an armed open finds now() there too.
        self._now = instant
        self._seconds = instant.timestamp()

    def alarm(self, deliver: Deliver, *, name: str = "alarm") -> Alarm:
        """Create an alarm delivered by :meth:`advance`."""
        alarm = _SimulatedAlarm(self, deliver, name)
        self._alarms = (*self._alarms, alarm)
        return alarm

    def next_due(self) -> pendulum.DateTime | None:
        """The earliest pending wake-up, or ``None``."""
        dues = [d for a in self._alarms if (d := a.pending()) is not None]
        return min(dues, default=None)

    def advance(self, delta: dt.timedelta, *, max_ticks: int = 100_000) -> int:
        """Move the clock forward by ``delta``; see :meth:`advance_to`.

        Raises:
            ValueError: ``delta`` is negative.
        """
        if delta < dt.timedelta(0):
            msg = f"delta={delta} is negative: accepted is a timedelta >= 0"
            raise ValueError(msg)
        return self.advance_to(self._now + delta, max_ticks=max_ticks)

    def advance_to(self, instant: dt.datetime, *, max_ticks: int = 100_000) -> int:
        """Move the clock to ``instant``, delivering every wake-up on the way.

        Returns:
            How many wake-ups were delivered.

        Raises:
            ValueError: ``instant`` is naive or earlier than now.
            PreopenTimeoutError: a consumer did not acknowledge in time.
            RuntimeError: more than ``max_ticks`` wake-ups (a consumer that
                keeps asking for the past).
        """
        target = as_utc(instant)
        if target < self._now:
            msg = (
                f"instant {target.isoformat()} is before the clock's now "
                f"{self._now.isoformat()}: a clock only moves forward"
            )
            raise ValueError(msg)
        delivered = 0
        while True:
            due = [(d, i, a) for i, a in enumerate(self._alarms) if (d := a.pending()) is not None]
            due = [x for x in due if x[0] <= target]
            if not due:
                break
            when, _, alarm = min(due, key=lambda x: (x[0], x[1]))
            if delivered >= max_ticks:
                msg = f"more than max_ticks={max_ticks} wake-ups before {target.isoformat()}"
                raise RuntimeError(msg)
            self._move(max(self._now, when))
            alarm.deliver_due(self._now, self.settle_timeout)
            delivered += 1
            self.ticks_delivered += 1
        self._move(target)
        return delivered

    def _remove(self, alarm: _SimulatedAlarm) -> None:
        self._alarms = tuple(a for a in self._alarms if a is not alarm)

    def __repr__(self) -> str:
        """Show the simulated instant."""
        return f"SimulatedClock({self._now.isoformat()})"


class _SimulatedAlarm:
    """An alarm on a simulated clock.

    Invariant (no lock needed): ``_request`` is written only by the consumer
    (``wake_at``), ``_delivered`` only by the thread driving the clock. A
    request is pending while its sequence number is above ``_delivered``, so
    a wake-up asked for while the clock is delivering is never lost.
    """

    def __init__(self, clock: SimulatedClock, deliver: Deliver, name: str) -> None:
        self._clock = clock
        self._deliver = deliver
        self.name = name
        self._seq = itertools.count(1)
        self._request: tuple[int, pendulum.DateTime] | None = None
        self._delivered = 0
        self._cancelled = False

    def wake_at(self, instant: dt.datetime) -> None:
        """Ask to be woken at ``instant`` (replaces any earlier request)."""
        self._request = (next(self._seq), as_utc(instant))

    def pending(self) -> pendulum.DateTime | None:
        """The pending wake-up instant, if any."""
        request = self._request
        if self._cancelled or request is None or request[0] <= self._delivered:
            return None
        return request[1]

    def deliver_due(self, now: pendulum.DateTime, timeout: float) -> None:
        """Deliver the pending wake-up at ``now`` and wait for its acknowledgement."""
        request = self._request
        if request is None:
            return
        self._delivered = request[0]
        ack: Future[None] = Future()
        started = time.monotonic()
        self._deliver(now, ack)
        try:
            ack.result(timeout=timeout)
        except TimeoutError:
            waited = time.monotonic() - started
            raise PreopenTimeoutError(
                f"{self.name}: handling the tick at {now.isoformat()}", waited
            ) from None

    def cancel(self) -> None:
        """Deliver nothing more."""
        self._cancelled = True
        self._clock._remove(self)  # noqa: SLF001 - the clock's own alarm
