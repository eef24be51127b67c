"""Benchmark the swap at the open, the host's view of it, and the prefetch's gain.

Prints one JSON line with:

- ``activation``: for 100, 1,000 and 10,000 symbols x 2 intervals, p50/p99
  (microseconds) of the runtime's own activation latency (from the
  scheduler's handling of the open tick to the SessionDataActor serving the
  new snapshot), over ``--activations`` consecutive sessions (default 200)
  driven by a SimulatedClock. The bars come from an in-memory store whose
  Bars are read-only views of one array per interval (no per-symbol copy),
  so that 200 sessions of 10,000 symbols fit in memory and in minutes; the
  snapshots are assembled and validated as in production. Intervals: 1m and
  1d for 100 and 1,000 symbols; 1h and 1d for 10,000 (same key count, a
  lighter validation, which the activation does not touch).
- ``host_view``: on the SystemClock (shifted so an open falls a moment
  after the start), from the open instant to the host's first read of the
  new session's bars: read in an ``on_activated`` callback, and by a host
  thread polling ``runtime.snapshot()`` every 200 us.
- ``session_start_pg``: 1,000 symbols x (1m, 1d) x 5 trailing sessions from
  PostgreSQL (PREOPEN_TEST_DSN, default the local server; a scratch schema is
  created and dropped): the session start with the prefetch (open tick to
  serving) vs without it (the load at the open, prefetch disabled), the
  median of ``--repeats`` runs each, and their ratio.

    python bench/activation.py
    python bench/activation.py --sizes 100,1000 --activations 200 --skip-pg
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import statistics
import threading
import time
import uuid
from typing import Any

import numpy as np
import psycopg

from preopen.calendar import get_calendar
from preopen.clock import SimulatedClock, SystemClock
from preopen.errors import NoSnapshotError
from preopen.model import Bars
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store
from preopen.store.synthetic import seed_store, symbol_names, synthetic_bars

CAL = get_calendar("XNYS")
DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
TRAILING = 5


class SharedStore:
    """Every symbol's bars are read-only views of one synthetic array per interval."""

    url = "memory://shared"

    def __init__(self, symbols: list[str], first: dt.date, last: dt.date,
                 intervals: tuple[str, ...]) -> None:
        sessions = CAL.sessions(first, last)
        self._names = tuple(symbols)
        self._records = {}
        for interval in intervals:
            bars = synthetic_bars(["X"], CAL, sessions, interval)["X"]
            self._records[interval] = bars.records()
        self.loads = 0

    def load(self, symbols: Any, interval: str, start: dt.datetime,  # noqa: ANN401 - BarStore
             end: dt.datetime) -> dict[str, Bars]:
        """Views of the shared array, one Bars per symbol."""
        self.loads += 1
        records = self._records[interval]
        lo, hi = np.searchsorted(records["ts"], [_ns(start), _ns(end)])
        part = records[lo:hi]
        return {s: Bars.from_records(s, interval, part) for s in symbols}

    def symbols(self) -> tuple[str, ...]:
        """The symbols it serves."""
        return self._names

    def write(self, interval: str, bars_by_symbol: Any) -> int:  # noqa: ANN401 - BarStore
        """Refuse: the benchmark store is read-only."""
        raise NotImplementedError("read-only benchmark store")

    def close(self) -> None:
        """Nothing to release."""


def _ns(instant: dt.datetime) -> int:
    return int(instant.timestamp()) * 10**9


def _seconds(value: float | None, what: str) -> float:
    if value is None:
        msg = f"the status has no {what}"
        raise RuntimeError(msg)
    return value


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1e6
    return {"p50_us": round(float(np.percentile(arr, 50)), 1),
            "p99_us": round(float(np.percentile(arr, 99)), 1),
            "max_us": round(float(arr.max()), 1), "n": len(samples)}


def activation(size: int, activations: int) -> dict[str, Any]:
    """Drive ``activations`` consecutive sessions; collect the runtime's activation latency."""
    intervals = ("1m", "1d") if size <= 1000 else ("1h", "1d")
    sessions = CAL.sessions(dt.date(2024, 1, 2), dt.date(2025, 12, 31))
    first_target = TRAILING + 1
    targets = sessions[first_target:first_target + activations]
    store = SharedStore(symbol_names(size), sessions[0], targets[-1], intervals)
    clock = SimulatedClock(CAL.close_at(sessions[first_target - 1]))
    settings = Settings(store="sqlite:///unused.db", intervals=intervals, loaders=2,
                        batch_size=500, check_interval_minutes=60, trailing_days=TRAILING,
                        symbols=tuple(store.symbols()))
    latencies: list[float] = []
    prefetch_s: list[float] = []
    began = time.perf_counter()
    with Runtime.start(settings, clock=clock, store=store) as runtime:
        for session in targets:
            clock.advance_to(CAL.open_at(session))
            status = runtime.status()
            if status.serving != session or status.fallbacks:
                msg = f"session {session} not activated from the prefetch: {status.last_error}"
                raise RuntimeError(msg)
            latencies.append(_seconds(status.activation_latency_s, "activation latency"))
            prefetch_s.append(_seconds(status.prefetch_seconds, "prefetch time"))
        nbytes = runtime.snapshot().nbytes
    return {"symbols": size, "intervals": list(intervals), **_percentiles(latencies),
            "prefetch_s_median": round(statistics.median(prefetch_s), 3),
            "snapshot_mb": round(nbytes / 1e6, 1),
            "wall_s": round(time.perf_counter() - began, 1)}


class HostReader:
    """The host: reads the new session's bars after the open, two ways."""

    def __init__(self, runtime: Runtime, clock: SystemClock, session: dt.date) -> None:
        self.runtime = runtime
        self.clock = clock
        self.session = session
        self.opening = CAL.open_at(session)
        self.by_callback: queue.Queue[float] = queue.Queue()
        self.by_polling: queue.Queue[float] = queue.Queue()
        self.stop = threading.Event()

    def since_open(self) -> float:
        """Seconds from the open to now, on the runtime's clock."""
        return (self.clock.now() - self.opening).total_seconds()

    def on_activated(self, snapshot: Any) -> None:  # noqa: ANN401 - a SessionSnapshot
        """The host's callback: read a bar at once."""
        float(snapshot.bars("S0000", "1m").close[-1])
        self.by_callback.put(self.since_open())

    def poll(self) -> None:
        """A host thread polling every 200 us."""
        while not self.stop.is_set():
            try:
                snapshot = self.runtime.snapshot()
            except NoSnapshotError:
                snapshot = None
            if snapshot is not None and snapshot.session == self.session:
                float(snapshot.bars("S0000", "1m").close[-1])
                self.by_polling.put(self.since_open())
                return
            time.sleep(0.0002)


def host_view(samples: int, lead_s: float = 0.4) -> dict[str, Any]:
    """Open instants on a shifted SystemClock; the host's first read after each."""
    sessions = CAL.sessions(dt.date(2024, 3, 1), dt.date(2025, 12, 31))
    store = SharedStore(symbol_names(100), sessions[0], sessions[-1], ("1m", "1d"))
    callback_s: list[float] = []
    poll_s: list[float] = []
    fallbacks = 0
    for i in range(samples):
        session = sessions[TRAILING + 1 + i]
        offset = (CAL.open_at(session) - SystemClock().now()) - dt.timedelta(seconds=lead_s)
        clock = SystemClock(offset=offset)
        settings = Settings(store="sqlite:///unused.db", symbols=tuple(store.symbols()),
                            batch_size=50)
        with Runtime.start(settings, clock=clock, store=store) as runtime:
            host = HostReader(runtime, clock, session)
            runtime.on_activated(host.on_activated)
            poller = threading.Thread(target=host.poll)
            poller.start()
            try:
                callback_s.append(host.by_callback.get(timeout=lead_s + 10))
                poll_s.append(host.by_polling.get(timeout=10))
            finally:
                host.stop.set()
                poller.join(5)
            fallbacks += runtime.status().fallbacks
    return {"symbols": 100, "on_activated": _percentiles(callback_s),
            "poll_200us": _percentiles(poll_s), "fallbacks": fallbacks}


def session_start_pg(symbols: int, repeats: int) -> dict[str, Any]:
    """Prefetch vs the load at the open, from PostgreSQL."""
    schema = f"preopen_bench_{uuid.uuid4().hex[:8]}"
    table = f"{schema}.bars"
    target = dt.date(2024, 12, 3)
    trailing = CAL.trailing_sessions(target, TRAILING)
    opening = CAL.open_at(target)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        store = open_store(DSN, table=table, create=True, pool_size=2)
        seed_store(store, CAL, symbols, trailing, ("1m", "1d"))
        names = tuple(store.symbols())
        with_prefetch: list[float] = []
        without: list[float] = []
        prefetch_s: list[float] = []
        for _ in range(repeats):
            for enabled in (True, False):
                clock = SimulatedClock(opening.subtract(minutes=61))
                settings = Settings(store=DSN, table=table, loaders=2, batch_size=100,
                                    symbols=names, enabled=enabled)
                with Runtime.start(settings, clock=clock, store=store) as runtime:
                    clock.advance_to(opening)
                    status = runtime.status()
                    if status.serving != target:
                        msg = f"not activated: {status.last_error}"
                        raise RuntimeError(msg)
                    if enabled:
                        with_prefetch.append(_seconds(status.activation_latency_s, "latency"))
                        prefetch_s.append(_seconds(status.prefetch_seconds, "prefetch time"))
                    else:
                        without.append(_seconds(status.fallback_seconds, "fallback time"))
        store.close()
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')
    start_with = statistics.median(with_prefetch)
    start_without = statistics.median(without)
    return {"symbols": symbols, "intervals": ["1m", "1d"], "rows": symbols * (TRAILING * 390 + 5),
            "start_with_prefetch_ms": round(start_with * 1e3, 3),
            "start_without_prefetch_ms": round(start_without * 1e3, 1),
            "prefetch_s": round(statistics.median(prefetch_s), 3),
            "ratio": round(start_without / start_with), "repeats": repeats}


def main() -> None:
    """Run the benchmarks and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--activations", type=int, default=200)
    parser.add_argument("--host-samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"bench": "activation"}
    out["activation"] = [activation(int(s), args.activations) for s in args.sizes.split(",")]
    out["host_view"] = host_view(args.host_samples)
    if not args.skip_pg:
        try:
            out["session_start_pg"] = session_start_pg(1000, args.repeats)
        except psycopg.OperationalError as exc:
            out["session_start_pg"] = {"skipped": f"no PostgreSQL at {DSN}: {exc}"}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
