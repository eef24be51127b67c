"""Benchmark how long an AsyncRuntime holds up its host's loop.

A coroutine ticks every 1 ms on the loop while an AsyncRuntime runs a full
simulated session of ``--symbols`` symbols x (1m, 1d) x 5 trailing sessions
from a SQLite store seeded in a temporary directory (the seeding is not
measured): start, the prefetch window and its load, the open with its
activation and an ``on_activated`` coroutine reading the bars, the close,
and the stop. The SimulatedClock is driven from the loop's default executor.

Prints one JSON line: the largest gap between two ticks over the session and
in each of its steps, the 99th percentile gap, the tick count, and, for
comparison, the largest gap of a plain thread sleeping 1 ms in the same
process at the same time (what the GIL, held by the loaders, the assembly
and the garbage collector, costs any thread: the part of the loop's gap
preopen's loop-side code is not responsible for). Load average included.

    python bench/async_ticks.py
    python bench/async_ticks.py --symbols 1000 --uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from preopen import (
    AsyncRuntime,
    SessionSnapshot,
    Settings,
    SimulatedClock,
    get_calendar,
    open_store,
)
from preopen.store.synthetic import seed_store

SESSION = dt.date(2024, 11, 29)
WAIT_S = 300.0


class LoopTicker:
    """Ticks every 1 ms on the loop; the gaps, tagged with the current step."""

    def __init__(self) -> None:
        self.step = "start"
        self.gaps: list[float] = []
        self.by_step: dict[str, float] = {}

    async def run(self) -> None:
        """Tick until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.001)
            now = loop.time()
            gap = now - last
            last = now
            self.gaps.append(gap)
            self.by_step[self.step] = max(self.by_step.get(self.step, 0.0), gap)


class ThreadTicker(threading.Thread):
    """A plain thread sleeping 1 ms: what the GIL alone costs a thread."""

    def __init__(self) -> None:
        super().__init__(name="bench-thread-ticker", daemon=True)
        self.max_gap = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        """Tick until stopped."""
        last = time.perf_counter()
        while not self.stop.wait(0.001):
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


async def session(store_url: str, symbols: int) -> dict[str, Any]:
    """Seed the store, run the session beside the tickers; the figures."""
    loop = asyncio.get_running_loop()
    calendar = get_calendar("XNYS")
    settings = Settings.load(store=store_url, intervals=("1m", "1d"), trailing_days=5)
    store = open_store(store_url, create=True)
    try:
        days = calendar.trailing_sessions(SESSION, settings.trailing_days)
        seed_store(store, calendar, symbols, days, settings.intervals)
        settings = settings.replace(symbols=tuple(store.symbols())[:symbols])
        clock = SimulatedClock(calendar.open_at(SESSION).subtract(hours=2, minutes=30))
        ticker, thread = LoopTicker(), ThreadTicker()
        ticking = asyncio.create_task(ticker.run())
        thread.start()
        await asyncio.sleep(0.05)
        read: asyncio.Future[float] = loop.create_future()

        async def on_open(snapshot: SessionSnapshot) -> None:
            closes = [float(snapshot.bars(s, "1m").close[-1]) for s in snapshot.symbols]
            read.set_result(float(np.mean(closes)))

        started = time.perf_counter()
        async with AsyncRuntime.start(settings, clock=clock, store=store, calendar=calendar,
                                      timeout=WAIT_S) as runtime:
            await runtime.on_activated(on_open)
            ticker.step = "prefetch"
            await loop.run_in_executor(None, clock.advance_to,
                                       calendar.open_at(SESSION).subtract(minutes=1))
            status = await runtime.wait_for(lambda s: s.prefetch_seconds is not None,
                                            timeout=WAIT_S)
            ticker.step = "open"
            await loop.run_in_executor(None, clock.advance_to, calendar.open_at(SESSION))
            await asyncio.wait_for(read, WAIT_S)
            ticker.step = "close"
            await loop.run_in_executor(None, clock.advance_to,
                                       calendar.close_at(SESSION).add(minutes=1))
            ticker.step = "stop"
            nbars = runtime.snapshot().nbars
        elapsed = time.perf_counter() - started
        ticking.cancel()
        thread.stop.set()
        thread.join(5.0)
    finally:
        store.close()
    gaps = np.array(ticker.gaps) * 1e3
    return {
        "symbols": symbols,
        "bars": nbars,
        "session_s": round(elapsed, 3),
        "prefetch_s": round(status.prefetch_seconds or 0.0, 3),
        "ticks": len(gaps),
        "loop_max_gap_ms": round(float(gaps.max()), 2),
        "loop_p99_gap_ms": round(float(np.percentile(gaps, 99)), 2),
        "loop_max_gap_ms_by_step": {k: round(v * 1e3, 2) for k, v in ticker.by_step.items()},
        "thread_max_gap_ms": round(thread.max_gap * 1e3, 2),
    }


def main() -> None:
    """Parse the options, run on the loop asked for, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    factory = None
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - only when asked for

        factory = uvloop.new_event_loop
    with tempfile.TemporaryDirectory() as tmp, asyncio.Runner(loop_factory=factory) as runner:
        out = runner.run(session(f"sqlite:///{Path(tmp) / 'bars.db'}", args.symbols))
    out["loop"] = "uvloop" if args.uvloop else "asyncio"
    out["loadavg"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
