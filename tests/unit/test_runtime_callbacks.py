"""The runtime called from its own callbacks, and host callbacks that raise.

A callback runs in a thread of the runtime: a method that waited there for
that same thread would hang until its timeout. Each call records its outcome
(the return or the exception) for the test to check after the clock moved.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading

import pytest
from support.week import XNYS, at

from preopen.actors import ChildKey
from preopen.actors.messages import ActivateNow
from preopen.clock import SimulatedClock
from preopen.errors import StoreWideError
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import symbol_names, synthetic_bars

DAY = dt.date(2024, 11, 26)
WAIT = 20.0
NAMES = tuple(symbol_names(4))
CLOSED = dt.date(2024, 12, 10)  # an ordinary Tuesday, closed by the host from a callback


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('callbacks') / 'bars.db'}"
    store = open_store(url, create=True)
    sessions = XNYS.sessions(dt.date(2024, 11, 18), dt.date(2024, 11, 27))
    store.write("5m", synthetic_bars(NAMES, XNYS, sessions, "5m", seed=5))
    store.close()
    return url


def small(url, **overrides):
    values = {"store": url, "symbols": NAMES, "loaders": 1, "batch_size": 2,
              "intervals": ("5m",), "trailing_days": 2}
    values.update(overrides)
    return Settings(**values)


def outcome_of(call):
    try:
        return ("returned", call())
    except BaseException as exc:  # noqa: BLE001 - the outcome is what is checked
        return ("raised", exc)


def test_runtime_methods_from_inside_on_activated(store_url):
    clock = SimulatedClock(at(DAY, "08:29"), settle_timeout=WAIT)
    runtime = Runtime.start(small(store_url), clock=clock, timeout=WAIT)
    try:
        outcomes: queue.Queue = queue.Queue()

        def host(snapshot):
            if runtime.symbols != frozenset(NAMES[:2]):
                # Each would wait on this very thread if it waited for its answer.
                outcomes.put(outcome_of(lambda: runtime.set_symbols(NAMES[:2], timeout=5)))
                outcomes.put(outcome_of(lambda: runtime.settle(timeout=5)))
                outcomes.put(outcome_of(lambda: runtime.on_activated(print, timeout=5)))
                outcomes.put(outcome_of(lambda: runtime.amend_calendar(closures=[CLOSED],
                                                                       timeout=5)))
                outcomes.put(outcome_of(lambda: runtime.activate(timeout=5)))
                outcomes.put(outcome_of(lambda: runtime.snapshot(timeout=5)))

        runtime.on_activated(host)
        clock.advance_to(at(DAY, "09:30"))
        first = [outcomes.get(timeout=WAIT) for _ in range(6)]
        assert [kind for kind, _ in first] == ["returned"] * 6, first
        assert not first[3][1].is_session(CLOSED)  # the calendar as amended
        assert first[4][1].session == DAY  # the scheduler's answer: the snapshot activated
        assert first[5][1].session == DAY
        runtime.settle(timeout=WAIT)
        assert runtime.symbols == frozenset(NAMES[:2])
        assert not runtime.calendar.is_session(CLOSED)
        status = runtime.status()
        assert any(e.kind is EventKind.SYMBOLS and "2 symbols" in e.detail for e in status.events)
        assert status.last_error is None
    finally:
        runtime.stop(WAIT)


def test_an_exception_in_on_activated_is_logged_and_in_the_status(store_url, caplog):
    clock = SimulatedClock(at(DAY, "08:29"), settle_timeout=WAIT)
    runtime = Runtime.start(small(store_url), clock=clock, timeout=WAIT)
    try:
        def broken(snapshot):
            raise ZeroDivisionError("host bug in its callback")

        runtime.on_activated(broken)
        with caplog.at_level(logging.ERROR, logger="preopen"):
            clock.advance_to(at(DAY, "09:30"))
            runtime.settle(timeout=WAIT)
        status = runtime.status()
        assert status.serving == DAY  # the swap happened all the same
        assert "host bug in its callback" in (status.last_error or "")
        assert "ZeroDivisionError" in status.last_error
        errors = [e for e in status.events if e.kind is EventKind.ERROR]
        assert errors
        assert "on_activated" in errors[-1].detail
        logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ZeroDivisionError]
        assert len(logged) == 1
    finally:
        runtime.stop(WAIT)


def test_stop_from_inside_on_failure_stops_and_closes_the_store_it_opened(store_url, caplog):
    before = set(threading.enumerate())
    clock = SimulatedClock(at(DAY, "07:00"), settle_timeout=WAIT)
    runtime = Runtime.start(small(store_url, restart_intensity=1,
                                              restart_period_s=600.0), clock=clock, timeout=WAIT)
    outcomes: queue.Queue = queue.Queue()

    def stop_it(error):
        outcomes.put(outcome_of(lambda: runtime.stop(WAIT)))

    def broken(error):
        raise KeyError("host bug in on_failure")

    runtime.on_failure(stop_it)
    runtime.on_failure(broken)
    with caplog.at_level(logging.ERROR, logger="preopen"):
        # A malformed message kills the scheduler: twice is past an intensity of 1.
        scheduler = runtime._tree.address(ChildKey("scheduler"))
        assert scheduler.tell(ActivateNow(reply=None))
        runtime.wait_for(lambda s: s.restarts == 1, timeout=WAIT)
        assert scheduler.tell(ActivateNow(reply=None))
        kind, value = outcomes.get(timeout=WAIT)
        assert kind == "returned", value
        runtime.stop(WAIT)  # waits for the stop begun in the callback; raises if a thread is left
    assert set(threading.enumerate()) <= before
    with pytest.raises(StoreWideError, match="closed"):
        runtime.store.load(NAMES[:1], "5m", at(DAY, "07:00"), at(DAY, "08:00"))
    status = runtime.status()
    assert not status.running
    assert "past the restart intensity" in status.last_error
    assert any(e.kind is EventKind.ERROR and "host bug in on_failure" in e.detail
               for e in status.events)
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    # Moving the clock after the escalation returns at once: nothing is left to wait for.
    assert clock.advance_to(at(DAY, "10:00")) == 0
