"""A small asyncio host: preopen's AsyncRuntime on the host's own loop.

It seeds a small SQLite store in a temporary directory, replays the morning
of one session on a simulated clock (driven from the loop's executor, as a
replay tool would), and, all on one loop: prints the runtime's events as they
come, waits for the prefetch, trades in a coroutine called at the activation,
and stops. A 1 ms ticker runs beside it all the while; its largest gap says
whether preopen ever held the loop up.

    python examples/async_host.py                  # the default asyncio loop
    python examples/async_host.py --uvloop         # uvloop's

Exit code 0 when every symbol was served by the prefetch and nothing is left
running.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from preopen import (
    AsyncRuntime,
    EventOverflow,
    SessionSnapshot,
    Settings,
    SimulatedClock,
    get_calendar,
    open_store,
)
from preopen.store.synthetic import seed_store

SESSION = dt.date(2024, 11, 29)  # the day after Thanksgiving: a 13:00 close
WAIT_S = 60.0  # every wait of the host carries a timeout


async def ticker(gaps: list[float]) -> None:
    """Tick every millisecond; keep the largest gap between two ticks."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(0.001)
        now = loop.time()
        gaps[0] = max(gaps[0], now - last)
        last = now


async def print_events(runtime: AsyncRuntime) -> int:
    """Print every status event, in order; how many."""
    count = 0
    async for event in runtime.events():
        if isinstance(event, EventOverflow):
            print(f"  event: {event}")  # never a silent gap
        else:
            print(f"  event #{event.seq} {event.kind} {event.detail}")
        count += 1
    return count


async def host(store_url: str, symbols: int) -> bool:
    """Seed a store, replay the morning of ``SESSION``, trade at the activation."""
    loop = asyncio.get_running_loop()
    calendar = get_calendar("XNYS")
    settings = Settings.load(store=store_url, intervals=("1m", "1d"), trailing_days=5)
    store = open_store(store_url, create=True)
    gaps = [0.0]
    ticking: asyncio.Task[None] | None = None
    traded: asyncio.Future[tuple[SessionSnapshot, int]] = loop.create_future()

    async def trade(snapshot: SessionSnapshot) -> None:
        # On the host's loop, after the swap: read the bars with no lock, no message.
        await asyncio.sleep(0)
        bars = snapshot.bars(snapshot.symbols[0], "1m")
        vwap = float(np.sum(bars.close * bars.volume) / np.sum(bars.volume))
        print(f"  trade: {snapshot.symbols[0]} last close {bars.close[-1]:.2f}, "
              f"trailing VWAP {vwap:.2f} (in thread {threading.current_thread().name})")
        traded.set_result((snapshot, threading.get_ident()))

    try:
        days = calendar.trailing_sessions(SESSION, settings.trailing_days)
        seed_store(store, calendar, symbols, days, settings.intervals)
        names = tuple(store.symbols())[:symbols]
        settings = settings.replace(symbols=names)
        ticking = asyncio.create_task(ticker(gaps))  # from here on, preopen runs
        clock = SimulatedClock(calendar.open_at(SESSION).subtract(hours=2, minutes=30))
        async with AsyncRuntime.start(settings, clock=clock, store=store,
                                      calendar=calendar) as runtime:
            printing = asyncio.create_task(print_events(runtime))
            await runtime.on_activated(trade)
            await loop.run_in_executor(None, clock.advance_to,
                                       calendar.open_at(SESSION).subtract(minutes=1))
            status = await runtime.wait_for(lambda s: s.prefetch_seconds is not None,
                                            timeout=WAIT_S)
            print(f"prefetched {status.progress.done} keys in {status.prefetch_seconds:.2f} s")
            await loop.run_in_executor(None, clock.advance_to, calendar.open_at(SESSION))
            snapshot, thread = await asyncio.wait_for(traded, WAIT_S)
            on_loop = thread == threading.get_ident()
            served = runtime.snapshot() is snapshot  # a plain read: no await
            status = runtime.status()
            print(f"session {snapshot.session}: {len(snapshot.symbols)} symbols, "
                  f"{snapshot.nbars:,} bars; callback on the loop: {on_loop}; "
                  f"fallbacks {status.fallbacks}")
        events = await asyncio.wait_for(printing, WAIT_S)  # ends after the stop
    finally:
        if ticking is not None:
            ticking.cancel()
        store.close()
    print(f"stopped after {events} events; largest tick gap {gaps[0] * 1e3:.1f} ms")
    return served and on_loop and set(snapshot.symbols) == set(names) and status.fallbacks == 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the host on its loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20, help="symbols to seed and trade")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    factory = None
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - only when asked for

        factory = uvloop.new_event_loop
    with tempfile.TemporaryDirectory() as tmp, asyncio.Runner(loop_factory=factory) as runner:
        ok = runner.run(host(f"sqlite:///{Path(tmp) / 'host.db'}", args.symbols))
    # The runner has closed the loop and its executor: nothing else may be left.
    leftover = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(f"threads left: {len(leftover)}")
    return 0 if ok and not leftover else 1


if __name__ == "__main__":
    sys.exit(main())
