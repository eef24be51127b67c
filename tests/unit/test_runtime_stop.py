"""Stop means stop: a blocked store call is interrupted, a stuck one is named and left behind.

The stores here block on a ``threading.Event``: the one the test never sets
stands for a store call that ignores cancellation. Every wait has a timeout;
no assertion is about speed.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from support.week import at

from preopen.clock import SimulatedClock
from preopen.errors import RuntimeStoppedError, StopTimeoutError, StoreInterruptedError
from preopen.model import Bars
from preopen.runtime import Runtime
from preopen.settings import Settings

ROOT = Path(__file__).parents[2]
DAY = dt.date(2024, 11, 26)
WAIT = 20.0


class BlockingStore:
    """A store whose ``load`` blocks until ``release`` is set.

    Args:
        honours_interrupt: ``interrupt()`` ends a blocked load with
            StoreInterruptedError (else it is ignored: a call stuck in foreign code).
    """

    url = "blocking://"

    def __init__(self, *, honours_interrupt: bool) -> None:
        self.honours_interrupt = honours_interrupt
        self.entered = threading.Event()
        self.release = threading.Event()
        self.interrupts = 0
        self.loads = 0
        self.closed = False

    def load(self, symbols, interval, start, end):
        del start, end
        self.loads += 1
        self.entered.set()
        self.release.wait()
        if self.honours_interrupt and self.interrupts:
            raise StoreInterruptedError(operation="load")
        return {s: Bars.empty(s, interval) for s in symbols}

    def fingerprints(self, symbols, interval, ranges):
        return {}

    def write(self, interval, bars_by_symbol):
        return 0

    def symbols(self):
        return ("AAA", "BBB")

    def interrupt(self):
        self.interrupts += 1
        if self.honours_interrupt:
            self.release.set()

    def close(self):
        self.closed = True


def _blocked_runtime(store, *, loaders=1):
    """A runtime whose first load is blocked in ``store`` (the clock moved in a thread)."""
    clock = SimulatedClock(at(DAY, "08:29"), settle_timeout=WAIT)
    runtime = Runtime.start(
        Settings(symbols=("AAA", "BBB", "CCC", "DDD"), loaders=loaders, batch_size=2,
                 intervals=("5m",), trailing_days=2),
        clock=clock, store=store, timeout=WAIT)
    outcome: list[BaseException | None] = []

    def advance() -> None:
        try:
            clock.advance_to(at(DAY, "08:30"))
        except BaseException as exc:  # noqa: BLE001 - recorded for the test
            outcome.append(exc)
        else:
            outcome.append(None)

    driver = threading.Thread(target=advance, daemon=True)
    driver.start()
    assert store.entered.wait(WAIT), "no load reached the store"
    return runtime, driver, outcome


def test_stop_interrupts_a_blocked_load_and_leaves_no_thread():
    before = set(threading.enumerate())
    store = BlockingStore(honours_interrupt=True)
    runtime, driver, outcome = _blocked_runtime(store, loaders=2)
    runtime.stop(WAIT)  # raises if a thread is left
    assert store.interrupts >= 1
    driver.join(WAIT)
    assert isinstance(outcome[0], RuntimeStoppedError)
    # The batch queued behind the interrupted one was not started: the tree was stopping.
    assert store.loads <= 2
    assert set(threading.enumerate()) <= before
    runtime.stop(WAIT)  # a second stop with nothing running: silent


def test_a_store_call_that_ignores_the_interrupt_is_named_alone_and_is_a_daemon():
    store = BlockingStore(honours_interrupt=False)
    runtime, driver, _ = _blocked_runtime(store)
    try:
        with pytest.raises(StopTimeoutError) as stuck:
            runtime.stop(1.0)
        # Only the stuck loader: the other actors stopped in parallel with it.
        assert stuck.value.threads == ("preopen-loader-0",)
        assert "preopen-loader-0" in str(stuck.value)
        left = [t for t in threading.enumerate() if t.name == "preopen-loader-0"]
        assert len(left) == 1
        assert left[0].daemon
        assert store.interrupts >= 1  # first, and again when the thread did not end
        assert not runtime.status().running
        # A second stop says what is still running.
        with pytest.raises(StopTimeoutError) as again:
            runtime.stop(0.1)
        assert again.value.threads == ("preopen-loader-0",)
    finally:
        store.release.set()
        driver.join(WAIT)
    left[0].join(WAIT)
    runtime.stop(WAIT)  # the call returned: nothing is running any more


HOST = textwrap.dedent("""
    import datetime as dt, sys, threading
    sys.path.insert(0, {tests!r})
    from support.week import at
    from test_runtime_stop import BlockingStore
    from preopen import Runtime, Settings, SimulatedClock, StopTimeoutError

    day = dt.date(2024, 11, 26)
    store = BlockingStore(honours_interrupt=False)   # never released
    clock = SimulatedClock(at(day, "08:29"), settle_timeout=600)
    runtime = Runtime.start(Settings(symbols=("AAA",), loaders=1, intervals=("5m",),
                                     trailing_days=2), clock=clock, store=store)
    threading.Thread(target=clock.advance_to, args=(at(day, "08:30"),), daemon=True).start()
    assert store.entered.wait(20)
    try:
        runtime.stop(1.0)
    except StopTimeoutError as exc:
        print("stuck:", ",".join(exc.threads), flush=True)
    print("host done", flush=True)
""")


def test_a_host_exits_while_a_store_call_is_still_blocked(tmp_path):
    script = tmp_path / "host.py"
    script.write_text(HOST.format(tests=str(ROOT / "tests" / "unit")))
    # The timeout only keeps a broken run from hanging the suite: the process
    # must end by itself, with a store call still blocked on an Event.
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={"PYTHONPATH": f"{ROOT}{':' + str(ROOT / 'tests')}",
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "stuck: preopen-loader-0" in proc.stdout
    assert "host done" in proc.stdout
