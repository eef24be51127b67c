"""A small trading host that embeds preopen through its public API.

It starts a runtime, is told of each activation by ``on_activated``, reads the
new session's bars with no lock and no message, computes a signal from them
(each symbol's trailing VWAP and its last close against it), and stops the
runtime, leaving no thread behind.

A real host runs on the system clock and simply keeps running; this one
replays one morning on a simulated clock so that it finishes in seconds:

    python examples/host.py                       # a temporary SQLite store
    python examples/host.py --store postgresql://root@127.0.0.1:5432/test?table=demo.bars

Exit code 0 when every symbol was served by the prefetch at the open.
"""

from __future__ import annotations

import argparse
import datetime as dt
import queue
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from preopen import Runtime, SessionSnapshot, Settings, SimulatedClock, get_calendar, open_store
from preopen.store.synthetic import seed_store

SESSION = dt.date(2024, 11, 29)  # the day after Thanksgiving: a 13:00 close
WAIT_S = 60.0  # every wait of the host carries a timeout


def trailing_vwap(snapshot: SessionSnapshot, symbol: str) -> tuple[float, float]:
    """The symbol's VWAP over the trailing 1m bars, and its last close."""
    bars = snapshot.bars(symbol, "1m")  # read-only numpy arrays, shared, not copied
    typical = (bars.high + bars.low + bars.close) / 3.0
    vwap = float(np.sum(typical * bars.volume) / np.sum(bars.volume))
    return vwap, float(bars.close[-1])


def run(store_url: str, symbols: int) -> int:
    """Seed a store, replay the morning of ``SESSION``, trade on the prefetched data."""
    calendar = get_calendar("XNYS")
    settings = Settings.load(store=store_url, intervals=("1m", "1d"), trailing_days=5)
    store = open_store(store_url, create=True)
    try:
        days = calendar.trailing_sessions(SESSION, settings.trailing_days)
        seed_store(store, calendar, symbols, days, settings.intervals)
        names = tuple(store.symbols())[:symbols]
        settings = settings.replace(symbols=names)

        # 07:00 New York time, before the prefetch window opens at 08:30.
        clock = SimulatedClock(calendar.open_at(SESSION).subtract(hours=2, minutes=30))
        activated: queue.SimpleQueue[SessionSnapshot] = queue.SimpleQueue()
        with Runtime.start(settings, clock=clock, store=store, calendar=calendar) as runtime:
            # Called in preopen's thread right after the swap: hand it over, return at once.
            runtime.on_activated(activated.put)
            clock.advance(dt.timedelta(0))
            clock.advance_to(calendar.open_at(SESSION).subtract(minutes=1))
            runtime.wait_for(lambda s: s.prefetch_seconds is not None, timeout=WAIT_S)
            clock.advance_to(calendar.open_at(SESSION))
            snapshot = activated.get(timeout=WAIT_S)
            if runtime.snapshot() is not snapshot:  # the host's read: one reference, no lock
                print("the served snapshot is not the one activated", file=sys.stderr)
                return 1
            status = runtime.status()
            print(f"session {snapshot.session}: {len(snapshot.symbols)} symbols, "
                  f"{snapshot.nbars:,} bars, activated in "
                  f"{(status.activation_latency_s or 0) * 1e3:.3f} ms, "
                  f"prefetched in {status.prefetch_seconds:.2f} s, fallbacks {status.fallbacks}")
            for symbol in snapshot.symbols[:5]:
                vwap, last = trailing_vwap(snapshot, symbol)
                side = "buy" if last < vwap else "sell"
                print(f"  {symbol}: trailing VWAP {vwap:8.2f}, last close {last:8.2f} -> {side}")
            served_all = set(snapshot.symbols) == set(names) and status.fallbacks == 0
    finally:
        store.close()
    leftover = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(f"stopped; threads left: {len(leftover)}")
    return 0 if served_all and not leftover else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the host."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a store URL (default: a temporary SQLite file)")
    parser.add_argument("--symbols", type=int, default=50, help="symbols to seed and trade")
    args = parser.parse_args(argv)
    if args.store:
        return run(args.store, args.symbols)
    with tempfile.TemporaryDirectory() as tmp:
        return run(f"sqlite:///{Path(tmp) / 'host.db'}", args.symbols)


if __name__ == "__main__":
    sys.exit(main())
