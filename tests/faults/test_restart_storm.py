"""A restart storm past the intensity: escalation, a clean stop, the reason told, no thread left."""

from __future__ import annotations

import datetime as dt
import queue
import threading

import pytest
from _faulty import Fault, FaultyStore, crash
from _world import WAIT, seed_sqlite, settings
from support.week import at

from preopen.clock import SimulatedClock
from preopen.errors import EscalationError, NoSnapshotError, RuntimeStoppedError
from preopen.runtime import Runtime
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import symbol_names

DAY = dt.date(2024, 11, 26)
NAMES = tuple(symbol_names(24))
INTENSITY = 3


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    url, _ = seed_sqlite(tmp_path_factory.mktemp("storm") / "bars.db", len(NAMES))
    store = open_store(url, create=True)
    yield url, store
    store.close()


def storm_settings(url):
    return settings(url, symbols=NAMES, restart_intensity=INTENSITY, restart_period_s=600.0)


def assert_escalated(runtime, failures, child, before):
    status = runtime.wait_for(lambda s: not s.running, timeout=WAIT)
    error = failures.get(timeout=WAIT)
    assert isinstance(error, EscalationError)
    assert error.child == child
    assert error.restarts == INTENSITY + 1
    assert "past the restart intensity" in str(error)
    assert status.last_error == str(error)
    assert status.events[-1].kind is EventKind.ESCALATED
    assert status.events[-1].detail == str(error)
    assert status.restarts == INTENSITY
    restarts = [e for e in status.events if e.kind is EventKind.RESTART]
    assert len(restarts) == INTENSITY
    kind = "loader-" if child.startswith("loader-") else f"{child} "
    assert all(e.detail.startswith(kind) and " restarted after " in e.detail for e in restarts)
    assert failures.empty()  # told once
    # Every actor thread has ended by itself: nothing but the host is left.
    for thread in runtime._ledger:
        thread.join(WAIT)
    assert set(threading.enumerate()) <= before
    with pytest.raises(RuntimeStoppedError, match="past the restart intensity"):
        runtime.set_symbols(["S0000"])
    runtime.stop(WAIT)  # still fine, and idempotent
    runtime.stop(WAIT)
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("child", ["session_data", "scheduler", "calendar"])
def test_a_child_crashing_past_the_intensity_escalates(real_store, child):
    url, store = real_store
    before = set(threading.enumerate())
    clock = SimulatedClock(at(DAY, "07:00"))
    runtime = Runtime.start(storm_settings(url), clock=clock, store=store)
    try:
        failures: queue.Queue = queue.Queue()
        runtime.on_failure(failures.put)
        for n in range(1, INTENSITY + 1):
            crash(runtime, child)
            runtime.wait_for(lambda s, n=n: s.restarts == n, timeout=WAIT)
        assert runtime.status().running
        crash(runtime, child)
        assert_escalated(runtime, failures, child, before)
        # The clock's alarm was cancelled: moving time does nothing and raises nothing.
        clock.advance_to(at(DAY, "10:00"))
        with pytest.raises(NoSnapshotError):
            runtime.snapshot()
    finally:
        runtime.stop(WAIT)


def test_loaders_dying_mid_prefetch_past_the_intensity_escalate(real_store):
    url, inner = real_store
    before = set(threading.enumerate())
    batches = [tuple(NAMES[i : i + 4]) for i in range(0, len(NAMES), 4)]
    store = FaultyStore(inner, plan={(b, "5m"): Fault.KILL for b in batches})
    clock = SimulatedClock(at(DAY, "08:29"))
    runtime = Runtime.start(storm_settings(url), clock=clock, store=store)
    try:
        failures: queue.Queue = queue.Queue()
        runtime.on_failure(failures.put)
        # The tick's acknowledgement fails: the scheduler was stopped with the tree.
        with pytest.raises(RuntimeStoppedError):
            clock.advance_to(at(DAY, "08:30"))
        error = failures.get(timeout=WAIT)
        failures.put(error)
        assert_escalated(runtime, failures, error.child, before)
        assert error.child.startswith("loader-")
        # The death past the intensity escalates; the other loader may already
        # be in a KILL batch of its own then, and die during the shutdown.
        loaders = storm_settings(url).loaders
        assert INTENSITY + 1 <= store.injected.count(Fault.KILL) <= INTENSITY + loaders
    finally:
        runtime.stop(WAIT)
