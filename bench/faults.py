"""Benchmark preopen's fault tolerance: failing batches, dying loaders, what it costs.

Data set: ``--symbols`` (default 1,000) synthetic symbols x 5 trailing
sessions of 5-minute and daily bars (the session is 2024-11-26 on XNYS),
in a temporary SQLite file and, unless ``--skip-pg``, in a scratch schema of
the PostgreSQL server named by PREOPEN_TEST_DSN (default
postgresql://root@127.0.0.1:5432/test; created and dropped here). Each run
is one prefetch window on a SimulatedClock, through the fault suite's
FaultyStore (``tests/faults/_faulty.py``), which fails the first try of
chosen batches.

Prints one JSON line with, per store:

- ``prefetch_s``: the prefetch time (first batch to snapshot), median of
  ``--repeats`` runs, with no fault and with ``--fraction`` (10 %) of the
  first-try batches failing (half data errors, which split the batch, half
  dropped connections, which retry it), and their ratio;
- ``faults_injected``, ``restarts`` (from the runtime's status),
  ``batches_retried`` (store calls beyond a fault-free run) and
  ``symbols_lost`` (symbols whose bars differ from the fault-free snapshot:
  must be 0), over every faulty run, killing runs included;
- ``replacement_ms``: from a loader's death (the instant its store call
  handed it the poisoned answer) to its new incarnation's first store call
  (the first message it handles), p50/p99/max over ``--kill-runs`` runs with
  one loader and ``--fraction`` of the batches killing it. The restart
  policy's period is set to 1 ms so each death is the first of its period
  (restarted without backoff): this is the mechanism's latency; a burst of
  deaths adds the backoff (10 ms doubling, at most 0.5 s) on purpose.

    python bench/faults.py
    python bench/faults.py --symbols 200 --skip-pg
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pendulum
import psycopg

from preopen.calendar import get_calendar
from preopen.clock import SimulatedClock
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store
from preopen.store.synthetic import seed_store, symbol_names

# The fault suite's FaultyStore is the one injection point, for tests and benchmark alike.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
from _faulty import Fault, FaultyStore

CAL = get_calendar("XNYS")
DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
DAY = dt.date(2024, 11, 26)
TRAILING = 5
INTERVALS = ("5m", "1d")
WAIT = 120.0


def at(hhmm: str) -> pendulum.DateTime:
    """DAY at ``hhmm`` New York time."""
    hour, minute = map(int, hhmm.split(":"))
    return pendulum.datetime(DAY.year, DAY.month, DAY.day, hour, minute, tz="America/New_York")


def first_batches(names: list[str], batch_size: int) -> list[tuple[tuple[str, ...], str]]:
    """The prefetch's first-try batches: the sorted symbols cut per interval."""
    ordered = sorted(names)
    return [(tuple(ordered[i : i + batch_size]), interval)
            for interval in INTERVALS for i in range(0, len(ordered), batch_size)]


def run(inner: Any, url: str, names: list[str], plan: dict, *, loaders: int,  # noqa: ANN401 - a BarStore
        batch_size: int, period_s: float = 60.0) -> tuple[Any, Any, FaultyStore]:
    """Run one window and open through a FaultyStore: (snapshot, status before the open, store)."""
    store = FaultyStore(inner, plan=plan)
    settings = Settings(store=url, symbols=tuple(names), loaders=loaders, batch_size=batch_size,
                        max_attempts=3, trailing_days=TRAILING, intervals=INTERVALS,
                        restart_intensity=10_000, restart_period_s=period_s)
    clock = SimulatedClock(at("08:29"), settle_timeout=WAIT)
    with Runtime.start(settings, clock=clock, store=store, timeout=WAIT) as runtime:
        clock.advance_to(at("08:30"))
        runtime.settle(timeout=WAIT)
        status = runtime.status()
        clock.advance_to(at("09:30"))
        runtime.settle(timeout=WAIT)
        snapshot = runtime.snapshot(timeout=WAIT)
    return snapshot, status, store


def lost(snapshot: Any, reference: Any, names: list[str]) -> int:  # noqa: ANN401 - snapshots
    """Symbols missing from ``snapshot`` or with bars other than the reference's."""
    out = 0
    for name in names:
        if not all(snapshot.bars(name, i).equals(reference.bars(name, i)) for i in INTERVALS
                   if name in snapshot.symbols) or name not in snapshot.symbols:
            out += 1
    return out


def measure(inner: Any, url: str, names: list[str], args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN401 - a BarStore
    """Every figure for one store."""
    rng = random.Random(args.seed)
    batches = first_batches(names, args.batch_size)
    count = max(1, round(args.fraction * len(batches)))
    reference, _, clean_store = run(inner, url, names, {}, loaders=2, batch_size=args.batch_size)
    clean_loads = clean_store.injected.loads
    clean, faulty = [], []
    totals = {"faults_injected": 0, "restarts": 0, "batches_retried": 0, "symbols_lost": 0}
    for _ in range(args.repeats):
        _, status, _ = run(inner, url, names, {}, loaders=2, batch_size=args.batch_size)
        clean.append(status.prefetch_seconds)
        chosen = rng.sample(batches, count)
        plan = {b: (Fault.RAISE if i % 2 else Fault.DISCONNECT) for i, b in enumerate(chosen)}
        snapshot, status, store = run(inner, url, names, plan, loaders=2,
                                      batch_size=args.batch_size)
        faulty.append(status.prefetch_seconds)
        totals["faults_injected"] += len(store.injected.faults)
        totals["restarts"] += status.restarts
        totals["batches_retried"] += store.injected.loads - clean_loads
        totals["symbols_lost"] += lost(snapshot, reference, names)
    gaps: list[float] = []
    for _ in range(args.kill_runs):
        plan = dict.fromkeys(rng.sample(batches, count), Fault.KILL)
        snapshot, status, store = run(inner, url, names, plan, loaders=1,
                                      batch_size=args.batch_size, period_s=0.001)
        totals["faults_injected"] += len(store.injected.faults)
        totals["restarts"] += status.restarts
        totals["batches_retried"] += store.injected.loads - clean_loads
        totals["symbols_lost"] += lost(snapshot, reference, names)
        # One loader: each death is followed by the first call of a new thread.
        starts = sorted(store.injected.new_thread_times)[1:]
        gaps.extend((s - k) * 1e3 for k, s in zip(sorted(store.injected.kill_times), starts,
                                                  strict=True))
    gaps.sort()
    clean_s, faulty_s = statistics.median(clean), statistics.median(faulty)
    return {
        "batches": len(batches),
        "failing_batches": count,
        "prefetch_s": {"no_fault": round(clean_s, 3), "failing": round(faulty_s, 3),
                       "ratio": round(faulty_s / clean_s, 2)},
        **totals,
        "replacement_ms": {
            "p50": round(statistics.median(gaps), 3),
            "p99": round(gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))], 3),
            "max": round(gaps[-1], 3),
            "n": len(gaps),
        },
    }


def sessions() -> tuple[dt.date, ...]:
    """The trailing sessions of DAY."""
    return CAL.trailing_sessions(DAY, TRAILING)


def main() -> None:
    """Run the benchmark and print one JSON line."""
    # Each injected death is logged as a warning; the figures are the output here.
    logging.getLogger("preopen").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--fraction", type=float, default=0.10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kill-runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    names = symbol_names(args.symbols)
    out: dict[str, Any] = {"bench": "faults", "symbols": args.symbols,
                           "intervals": list(INTERVALS), "trailing_sessions": TRAILING,
                           "fraction": args.fraction, "load_avg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bars.db"
        store = open_store(url, create=True)
        try:
            seed_store(store, CAL, names, sessions(), INTERVALS, seed=3)
            out["sqlite"] = measure(store, url, names, args)
        finally:
            store.close()
    if not args.skip_pg:
        out["postgresql"] = pg(names, args)
    out["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(out))


def pg(names: list[str], args: argparse.Namespace) -> dict[str, Any] | str:
    """The figures on PostgreSQL, in a scratch schema dropped at the end."""
    schema = f"preopen_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'create schema "{schema}"')
    except psycopg.OperationalError as exc:
        return f"skipped: no server at {DSN}: {exc}".strip()
    started = time.perf_counter()
    try:
        store = open_store(DSN, table=f"{schema}.bars", create=True, pool_size=2)
        try:
            seed_store(store, CAL, names, sessions(), INTERVALS, seed=3)
            result = measure(store, DSN, names, args)
        finally:
            store.close()
    finally:
        with psycopg.connect(DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    main()
