"""AsyncRuntime inside a running loop (default and uvloop), beside a 1 ms ticker.

The session is 2024-11-29 on XNYS (the day after Thanksgiving: 09:30-13:00
New York time); with the default 60-minute window its prefetch starts at
08:30. The SimulatedClock is driven from the loop's default executor.

To show that an await does not block the loop, the clock given to the
runtime holds every preopen thread that reads it while an await is being
counted, until the loop's ticker has ticked ``HOLD_TICKS`` more times: an
await whose completion needs another thread can then only complete if the
loop kept running meanwhile. (Were the loop blocked, the hold would time out
and the await would end with no tick counted.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pendulum
import pytest
import uvloop

from preopen import AsyncRuntime, EventOverflow
from preopen.calendar import get_calendar
from preopen.calendar.timing import Phase
from preopen.clock import SimulatedClock
from preopen.errors import ArgumentValueError, PreopenTimeoutError, RuntimeStoppedError
from preopen.settings import Settings
from preopen.status import Event, EventKind
from preopen.store import open_store
from preopen.store.synthetic import seed_store

XNYS = get_calendar("XNYS")
SESSION = dt.date(2024, 11, 29)
NY = "America/New_York"
OPEN = pendulum.datetime(2024, 11, 29, 9, 30, tz=NY)
CLOSE = pendulum.datetime(2024, 11, 29, 13, 0, tz=NY)
SYMBOLS = ("S00000", "S00001", "S00002", "S00003")
WAIT = 20.0
HOLD_TICKS = 3
LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class Ticker:
    """Ticks every 1 ms on the loop; a held clock waits for its ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self._cond = threading.Condition()
        self._hold_until: int | None = None
        self.loop_thread: int | None = None

    async def run(self) -> None:
        self.loop_thread = threading.get_ident()
        while True:
            await asyncio.sleep(0.001)
            with self._cond:
                self.ticks += 1
                self._cond.notify_all()

    def hold(self) -> None:
        with self._cond:
            self._hold_until = self.ticks + HOLD_TICKS

    def release(self) -> None:
        with self._cond:
            self._hold_until = None
            self._cond.notify_all()

    def wait_for_ticks(self) -> None:
        """In a preopen thread: while held, wait until the loop has ticked enough."""
        if threading.get_ident() == self.loop_thread:
            return
        with self._cond:
            self._cond.wait_for(
                lambda: self._hold_until is None or self.ticks >= self._hold_until, timeout=5.0)

    async def count(self, awaitable):
        """Await ``awaitable`` with the clock held; its result and the ticks meanwhile."""
        self.hold()
        before = self.ticks
        try:
            result = await awaitable
        finally:
            self.release()
        return result, self.ticks - before


class HeldClock(SimulatedClock):
    """A SimulatedClock whose readers, in preopen's threads, wait while the ticker holds it."""

    def __init__(self, start, ticker: Ticker) -> None:
        super().__init__(start)
        self.ticker = ticker

    def now(self):
        self.ticker.wait_for_ticks()
        return super().now()


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('aio') / 'bars.db'}"
    store = open_store(url, create=True)
    seed_store(store, XNYS, len(SYMBOLS), XNYS.trailing_sessions(SESSION, 5), ("1m", "1d"))
    store.close()
    return url


@pytest.fixture
def store(store_url):
    store = open_store(store_url)
    yield store
    store.close()


@pytest.fixture(params=sorted(LOOPS))
def run(request):
    """Run a coroutine to the end on a fresh loop of the parametrised kind."""

    def run(coroutine_function):
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            return runner.run(asyncio.wait_for(coroutine_function(), 120))

    return run


def settings(store_url, **overrides):
    values = {"store": store_url, "loaders": 2, "batch_size": 2, "symbols": SYMBOLS,
              "intervals": ("1m", "1d"), "trailing_days": 5}
    values.update(overrides)
    return Settings(**values)


@dataclass
class Session:
    """What one simulated session through the async runtime recorded."""

    ticks: dict[str, int] = field(default_factory=dict)
    clock_ticks: list[tuple[int, int]] = field(default_factory=list)
    callbacks: list[tuple[str, int, dt.date]] = field(default_factory=list)
    loop_thread: int = 0
    events: list[Event | EventOverflow] = field(default_factory=list)
    slow: list[Event | EventOverflow] = field(default_factory=list)
    final: tuple[Event, ...] = ()
    served: dt.date | None = None


async def full_session(store, store_url, *, slow_queue: int) -> Session:  # noqa: PLR0915 - the steps in order
    """Window, load, open (activated by the host), close, on the default executor's clock."""
    loop = asyncio.get_running_loop()
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    await asyncio.sleep(0.01)
    clock = HeldClock(OPEN.subtract(hours=2, minutes=30), ticker)
    out = Session(loop_thread=threading.get_ident())
    called = asyncio.Event()

    async def advance(to):
        out.clock_ticks.append(await ticker.count(
            loop.run_in_executor(None, clock.advance_to, to)))

    def on_function(snapshot):
        out.callbacks.append(("function", threading.get_ident(), snapshot.session))

    async def on_coroutine(snapshot):
        await asyncio.sleep(0)
        out.callbacks.append(("coroutine", threading.get_ident(), snapshot.session))
        called.set()

    starting = AsyncRuntime.start(settings(store_url, auto_activate=False), clock=clock,
                                  store=store, calendar=XNYS, timeout=WAIT)
    runtime, out.ticks["start"] = await ticker.count(starting)
    try:
        everything = runtime.events(maxsize=1000)
        slow = runtime.events(maxsize=slow_queue)  # not read until the session is over
        await runtime.on_activated(on_function, timeout=WAIT)
        await runtime.on_activated(on_coroutine, timeout=WAIT)
        # A callback of the thread API: holds the SessionDataActor after the swap.
        in_swap = asyncio.Event()
        proceed = threading.Event()

        def hold_session_thread(_snapshot):
            loop.call_soon_threadsafe(in_swap.set)
            proceed.wait(5.0)

        await asyncio.wrap_future(runtime.runtime.submit_on_activated(hold_session_thread))
        await advance(clock.now())
        _, out.ticks["set_symbols"] = await ticker.count(
            runtime.set_symbols(SYMBOLS[:3], timeout=WAIT))
        # The wait is pending while the clock moves through the window in the executor.
        loaded = asyncio.create_task(ticker.count(
            runtime.wait_for(lambda s: s.prefetch_seconds is not None, timeout=WAIT)))
        await advance(OPEN.subtract(minutes=1))
        status, out.ticks["wait_for"] = await loaded
        assert status.progress.done == status.progress.total == 6
        _, out.ticks["amend_calendar"] = await ticker.count(runtime.amend_calendar(
            closures=[dt.date(2024, 12, 24)], timeout=WAIT))
        await advance(OPEN)
        snapshot, out.ticks["activate"] = await ticker.count(runtime.activate(timeout=WAIT))
        assert runtime.snapshot() is snapshot  # a plain read: no await
        # Registering a callback waits for the held SessionDataActor, which
        # the loop lets go of after a few ticks: only a free loop gets there.
        await asyncio.wait_for(in_swap.wait(), WAIT)
        late = []

        async def let_go():
            for _ in range(HOLD_TICKS):
                await asyncio.sleep(0.001)
            proceed.set()

        letting_go = asyncio.create_task(let_go())
        _, out.ticks["on_activated"] = await ticker.count(
            runtime.on_activated(late.append, timeout=WAIT))
        await letting_go
        # The scheduler publishes the activation after the held callback lets
        # go: wait for that status (a plain read right away may precede it).
        served = await runtime.wait_for(lambda s: s.serving is not None, timeout=WAIT)
        assert served.serving == SESSION
        assert runtime.status().serving == SESSION
        await asyncio.wait_for(called.wait(), WAIT)
        closed = asyncio.create_task(ticker.count(runtime.wait_for(Phase.CLOSED, timeout=WAIT)))
        await advance(CLOSE.add(minutes=1))
        _, out.ticks["wait_for_closed"] = await closed
        out.served = runtime.snapshot().session
    finally:
        _, out.ticks["stop"] = await ticker.count(runtime.stop(WAIT))
    out.events = [e async for e in everything]
    out.slow = [e async for e in slow]
    out.final = runtime.status().events
    ticking.cancel()
    return out


def test_a_full_session_never_blocks_the_loop(store, store_url, run):
    out = run(lambda: full_session(store, store_url, slow_queue=3))
    # Every await that waits on preopen's threads let the loop tick meanwhile.
    assert all(n > 0 for n in out.ticks.values()), str(out.ticks)
    # So did each move of the clock that delivered wake-ups to the runtime.
    assert [n > 0 for delivered, n in out.clock_ticks if delivered] == [True] * 3, out.clock_ticks
    assert out.served == SESSION
    # Both callbacks ran on the loop's own thread, once, for the session.
    assert sorted(out.callbacks) == [("coroutine", out.loop_thread, SESSION),
                                     ("function", out.loop_thread, SESSION)]
    # Every event, in order, with no gap, from the first to the stop.
    seqs = [e.seq for e in out.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [(e.seq, e.kind) for e in out.events[-len(out.final):]] == [
        (e.seq, e.kind) for e in out.final]
    kinds = [e.kind for e in out.events]
    for kind in (EventKind.PLANNED, EventKind.PREFETCH_STARTED, EventKind.PREFETCH_DONE,
                 EventKind.SYMBOLS, EventKind.CALENDAR, EventKind.ACTIVATED,
                 EventKind.SESSION_ENDED, EventKind.STOPPED):
        assert kind in kinds
    assert kinds.index(EventKind.PREFETCH_DONE) < kinds.index(EventKind.ACTIVATED) < kinds.index(
        EventKind.SESSION_ENDED) < kinds.index(EventKind.STOPPED) == len(kinds) - 1
    # The slow reader: what fitted in its queue, then how many it missed, then nothing.
    total = len(out.events)
    assert out.slow[:3] == out.events[:3]
    assert out.slow[3:] == [EventOverflow(total - 3, 4, total, "consumer")]


async def slow_reader_catches_up(store, store_url) -> tuple[list[object], int]:
    clock = SimulatedClock(OPEN.subtract(hours=2, minutes=30))
    async with AsyncRuntime.start(settings(store_url), clock=clock, store=store,
                                  calendar=XNYS, timeout=WAIT) as runtime:
        loop = asyncio.get_running_loop()
        stream = runtime.events(maxsize=2, replay=False)
        await loop.run_in_executor(None, clock.advance_to, OPEN.subtract(minutes=1))
        await runtime.wait_for(lambda s: s.prefetch_seconds is not None, timeout=WAIT)
        read = [await anext(stream), await anext(stream)]  # the queue's two: it is empty
        # Three events (activated, symbols, calendar) for a queue of two.
        await loop.run_in_executor(None, clock.advance_to, OPEN)
        await runtime.wait_for(lambda s: s.serving == SESSION, timeout=WAIT)
        await runtime.set_symbols(SYMBOLS[:2], timeout=WAIT)
        await runtime.amend_calendar(closures=[dt.date(2024, 12, 24)], timeout=WAIT)
        read += [await anext(stream) for _ in range(3)]
        # Read at its pace from here: it misses nothing more.
        await runtime.amend_calendar(closures=[dt.date(2024, 12, 26)], timeout=WAIT)
        read.append(await anext(stream))
        last_seq = runtime.status().events[-1].seq
    read += [e async for e in stream]
    return read, last_seq


def test_the_overflow_stands_where_the_gap_is_and_later_events_follow(store, store_url, run):
    read, last_seq = run(lambda: slow_reader_catches_up(store, store_url))
    assert [e.kind for e in read[:3]] == [EventKind.PREFETCH_STARTED, EventKind.PREFETCH_DONE,
                                          EventKind.ACTIVATED]
    # The queue's two, then the overflow where the rest of the burst was,
    # then every later event: the sequence accounts for every number.
    overflows = [i for i, e in enumerate(read) if isinstance(e, EventOverflow)]
    assert overflows == [4]
    expected = read[0].seq
    for item in read:
        if isinstance(item, EventOverflow):
            assert (item.first_seq, item.reason) == (expected, "consumer")
            assert item.missed == item.last_seq - item.first_seq + 1 > 0
            expected = item.last_seq + 1
        else:
            assert item.seq == expected
            expected += 1
    assert read[-2].kind is EventKind.CALENDAR
    assert (read[-1].kind, read[-1].seq) == (EventKind.STOPPED, last_seq + 1)


async def failing_callbacks(store, store_url) -> None:
    clock = SimulatedClock(OPEN.subtract(hours=2, minutes=30))
    done = asyncio.Event()

    def broken(snapshot):
        msg = f"function failed on {snapshot.session}"
        raise ValueError(msg)

    async def broken_coroutine(snapshot):
        done.set()
        msg = f"coroutine failed on {snapshot.session}"
        raise ValueError(msg)

    async with AsyncRuntime.start(settings(store_url), clock=clock, store=store,
                                  calendar=XNYS, timeout=WAIT) as runtime:
        await runtime.on_activated(broken, timeout=WAIT)
        await runtime.on_activated(broken_coroutine, timeout=WAIT)
        await asyncio.get_running_loop().run_in_executor(None, clock.advance_to, OPEN)
        await asyncio.wait_for(done.wait(), WAIT)
        await asyncio.sleep(0)
        assert runtime.snapshot().session == SESSION  # the failures took nothing down


def test_callback_failures_are_logged_with_their_traceback(store, store_url, run, caplog):
    with caplog.at_level(logging.ERROR, logger="preopen.aio"):
        run(lambda: failing_callbacks(store, store_url))
    failed = [r for r in caplog.records if "on_activated callback" in r.getMessage()]
    assert len(failed) == 2
    assert all(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in failed)
    assert {str(r.exc_info[1]) for r in failed} == {
        "function failed on 2024-11-29", "coroutine failed on 2024-11-29"}


async def timeouts_and_stops(store, store_url) -> None:
    clock = SimulatedClock(OPEN.subtract(hours=2, minutes=30))
    runtime = await AsyncRuntime.start(settings(store_url), clock=clock, store=store,
                                       calendar=XNYS, timeout=WAIT)
    try:
        with pytest.raises(PreopenTimeoutError, match="phase open"):
            await runtime.wait_for(Phase.OPEN, timeout=0.01)
        with pytest.raises(ArgumentValueError, match="timeout"):
            await runtime.set_symbols(["AAA"], timeout=-1)
        assert runtime.symbols == frozenset(SYMBOLS)  # refused before it was sent
        pending = asyncio.ensure_future(runtime.wait_for(Phase.OPEN, timeout=WAIT))
        await asyncio.sleep(0)
    finally:
        await runtime.stop(WAIT)
    with pytest.raises(RuntimeStoppedError, match="phase open"):
        await pending
    with pytest.raises(RuntimeStoppedError):
        await runtime.set_symbols(["AAPL"], timeout=WAIT)
    await runtime.stop(WAIT)  # idempotent
    assert [e.kind for e in [e async for e in runtime.events()]][-1] is EventKind.STOPPED


def test_waits_time_out_and_a_stop_ends_them(store, store_url, run):
    run(lambda: timeouts_and_stops(store, store_url))


def test_bad_arguments_are_refused_at_the_call(store_url):
    with pytest.raises(TypeError, match="clock"):
        AsyncRuntime.start(settings(store_url), clock="now")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_example_async_host_runs(loop):
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's preopen
    flags = ["--uvloop"] if loop == "uvloop" else []
    proc = subprocess.run([sys.executable, "examples/async_host.py", "--symbols", "10", *flags],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # 10 symbols x (5 trailing sessions x 390 one-minute bars + 5 daily bars)
    assert "session 2024-11-29: 10 symbols, 19,550 bars; callback on the loop: True" in out
    assert "event #3 prefetch-done 20/20 keys" in out
    assert "event #5 stopped" in out
    assert out.rstrip().endswith("threads left: 0")


def test_the_readme_snippet_uses_the_public_names():
    root = Path(__file__).parents[2]
    section = (root / "README.md").read_text().split("## asyncio hosts", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    compile(snippet, "README.md", "exec")
    names = snippet.split("from preopen import ", 1)[1].splitlines()[0].split(", ")
    import preopen  # noqa: PLC0415 - the names it exports are what is tested

    assert all(hasattr(preopen, name) for name in names)
    assert "runtime.events()" in snippet
    assert "await runtime.on_activated(" in snippet


async def a_callback_stops_the_runtime(store, store_url) -> list[str]:
    clock = SimulatedClock(OPEN.subtract(hours=2, minutes=30))
    steps: list[str] = []
    stopped = asyncio.Event()
    runtime = await AsyncRuntime.start(settings(store_url), clock=clock, store=store,
                                       calendar=XNYS, timeout=WAIT)

    async def stop_at_the_open(snapshot):
        steps.append(f"activated {snapshot.session}")
        await runtime.stop(WAIT)  # its own task is not among those the stop waits for
        steps.append("stopped")
        stopped.set()

    await runtime.on_activated(stop_at_the_open, timeout=WAIT)
    stream = runtime.events()
    # The stop may come while the clock still waits for the open tick to be
    # handled: the clock is then told that the runtime stopped.
    with contextlib.suppress(RuntimeStoppedError):
        await asyncio.get_running_loop().run_in_executor(None, clock.advance_to, OPEN)
    events = [e async for e in stream]  # ends with the stop
    await asyncio.wait_for(stopped.wait(), WAIT)
    steps.append(f"events end with {events[-1].kind}")
    await runtime.stop(WAIT)
    return steps


def test_a_callback_may_stop_the_runtime(store, store_url, run):
    steps = run(lambda: a_callback_stops_the_runtime(store, store_url))
    assert steps == ["activated 2024-11-29", "stopped", "events end with stopped"]
