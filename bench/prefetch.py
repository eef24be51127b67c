"""Benchmark the day-over-day prefetch: incremental (reuse the served snapshot) against full.

Data set: N symbols (default 10,000) x 1m x the 5 trailing sessions of
2024-12-03 plus 2024-12-03 and 2024-12-04, seeded with ``preopen.store.synthetic``
into a scratch schema of the PostgreSQL server named by PREOPEN_TEST_DSN
(default postgresql://root@127.0.0.1:5432/test; created and dropped here)
and into a temporary SQLite file.

For each store and each mode (``refresh = "incremental"`` and ``"full"``) a
fresh subprocess drives the real :class:`~preopen.actors.Planner` through
three sessions, its LoadBatch commands run on two threads (two loaders, two
connections): the prefetch of 2024-12-03 (always full: nothing is served),
its activation, then 2024-12-04's and its activation, then 2024-12-05's.
Each prefetch after the first is timed from the tick that starts it to the
frozen snapshot (loads, reuse, assembly, validation): ``seconds`` is the
day-over-day figure of a running host (2024-12-05's: the memory of the
snapshot before last is reused), ``first_day_after_start_s`` the one after
a start (2024-12-04's: fresh memory, faulted in while loading). The child
holds the snapshot being served until the next open, as the
SessionDataActor does, and keeps no other. Peak RSS is the process's
VmHWM, reset (``/proc/self/clear_refs``) just before the timed prefetch, so
it is the peak while the served snapshot and the next coexist. The
incremental child also times the correction check: ``fingerprints`` of the
4 reused sessions, on the same two threads.

Prints one JSON line, with the load average before and after (the machine
is shared: figures are noisy).

    PYTHONPATH=. python bench/prefetch.py                 # 10,000 symbols (slow to seed)
    PYTHONPATH=. python bench/prefetch.py --symbols 1000
    # again on stores an earlier run seeded (the seven sessions, 10,000 symbols):
    PYTHONPATH=. python bench/prefetch.py --sqlite-file /tmp/bars.db --postgres-table s.bars
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from preopen.actors import Planner
from preopen.actors.messages import Activate, LoadBatch
from preopen.calendar import get_calendar
from preopen.calendar.timing import prefetch_start
from preopen.settings import Settings
from preopen.store import open_store
from preopen.store.synthetic import seed_store, symbol_names

DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
CALENDAR = get_calendar("XNYS")
FIRST = dt.date(2024, 12, 3)
SECOND = CALENDAR.next_session(FIRST)
THIRD = CALENDAR.next_session(SECOND)
TRAILING = 5
SESSIONS = (*CALENDAR.trailing_sessions(FIRST, TRAILING), FIRST, SECOND)
LOADERS = 2


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def vm_hwm_mib() -> float:
    """This process's peak RSS (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm() -> bool:
    """Reset the peak RSS to the current RSS; False where the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def drive(planner: Planner, store: Any, pool: ThreadPoolExecutor, now: Any) -> list[Any]:  # noqa: ANN401
    """Tick at ``now``, run every command until the planner is idle; the snapshots activated."""
    activated = []
    planner.tick(now, time.perf_counter())
    running: dict[Future[Any], LoadBatch] = {}
    while True:
        while planner.outbox:
            _, command = planner.outbox.pop(0)
            if isinstance(command, LoadBatch):
                b = command.batch
                future = pool.submit(store.load, b.symbols, b.interval, command.start, command.end)
                running[future] = command
            elif isinstance(command, Activate):
                activated.append(command.snapshot)
                planner.activated(command.snapshot.session, command.symbols, 0.0)
        if not running:
            return activated
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            command = running.pop(future)
            planner.loaded(command.batch.request_id, future.result())


def child(url: str, table: str | None, mode: str, count: int) -> dict[str, Any]:
    """One mode on one store, in this (fresh) process."""
    names = symbol_names(count)
    settings = Settings(store=url, intervals=("1m",), trailing_days=TRAILING, loaders=LOADERS,
                        batch_size=500, refresh=mode, symbols=tuple(names))
    store = open_store(url, pool_size=LOADERS, table=table)
    planner = Planner(settings, symbols=frozenset(names))
    out: dict[str, Any] = {"mode": mode}
    with ThreadPoolExecutor(LOADERS) as pool:
        start = prefetch_start(CALENDAR, FIRST, settings.window)
        planner.set_calendar(CALENDAR, start)
        drive(planner, store, pool, start)
        serving = None
        for day, following in ((FIRST, SECOND), (SECOND, THIRD)):
            served = drive(planner, store, pool, CALENDAR.open_at(day))
            assert [s.session for s in served] == [day], "not activated"  # noqa: S101 - the check
            # As the SessionDataActor does: hold what is served, let go of what it replaced.
            serving = served.pop()
            out["served_mib"] = round(serving.nbytes / 2**20, 1)
            drive(planner, store, pool, CALENDAR.close_at(day).add(minutes=1))
            out["rss_before_mib"] = round(vm_hwm_mib(), 1)
            out["hwm_reset"] = reset_hwm()
            loaded_before = planner.status().bars_loaded
            began = time.perf_counter()
            drive(planner, store, pool, prefetch_start(CALENDAR, following, settings.window))
            seconds = round(time.perf_counter() - began, 3)
            out["first_day_after_start_s" if day == FIRST else "seconds"] = seconds
        out["peak_rss_mib"] = round(vm_hwm_mib(), 1)
        del serving
        cycle = planner.cycle
        snapshot = cycle.snapshot if cycle is not None else None
        assert snapshot is not None  # noqa: S101
        assert snapshot.report.complete  # noqa: S101
        out["bars"] = snapshot.nbars
        out["bars_loaded"] = planner.status().bars_loaded - loaded_before
        if mode == "incremental":
            past = [(CALENDAR.open_at(d), CALENDAR.close_at(d))
                    for d in CALENDAR.trailing_sessions(THIRD, TRAILING)[:-1]]
            half = len(names) // 2
            began = time.perf_counter()
            list(pool.map(lambda part: store.fingerprints(part, "1m", past),
                          (names[:half], names[half:])))
            out["correction_check_s"] = round(time.perf_counter() - began, 3)
    store.close()
    return out


def run_child(url: str, table: str | None, mode: str, count: int) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter; its result."""
    args = [sys.executable, __file__, "--child", mode, "--url", url, "--symbols", str(count)]
    if table:
        args += ["--table", table]
    proc = subprocess.run(  # noqa: S603 - this very script, with our own arguments
        args, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} on {url} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def compare(url: str, table: str | None, count: int) -> dict[str, Any]:
    """Full, then incremental, on one store."""
    full = run_child(url, table, "full", count)
    incremental = run_child(url, table, "incremental", count)
    return {
        "full": full,
        "incremental": incremental,
        "incremental_over_full": round(incremental["seconds"] / full["seconds"], 3),
        "first_day_incremental_over_full": round(
            incremental["first_day_after_start_s"] / full["first_day_after_start_s"], 3),
        "check_over_incremental_load": round(
            incremental["correction_check_s"] / incremental["seconds"], 3),
    }


def main() -> None:
    """Seed, compare on SQLite and PostgreSQL, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--child", choices=("full", "incremental"))
    parser.add_argument("--url")
    parser.add_argument("--table")
    parser.add_argument("--sqlite-file", help="a SQLite file seeded by an earlier run: reused")
    parser.add_argument("--postgres-table", help="a table (schema.table) seeded by an earlier "
                        "run: reused, never dropped")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.url, args.table, args.child, args.symbols)))
        return
    names = symbol_names(args.symbols)
    result: dict[str, Any] = {
        "bench": "prefetch", "symbols": args.symbols, "interval": "1m",
        "sessions": TRAILING, "loaders": LOADERS, "loadavg_before": loadavg(),
    }
    if not args.skip_sqlite and args.sqlite_file:
        result["sqlite"] = compare(f"sqlite:///{args.sqlite_file}", None, args.symbols)
    elif not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bars.db"
            writer = open_store(url, create=True)
            began = time.perf_counter()
            seed_store(writer, CALENDAR, names, SESSIONS, ["1m"])
            writer.close()
            result["sqlite_seed_s"] = round(time.perf_counter() - began, 1)
            result["sqlite"] = compare(url, None, args.symbols)
    if not args.skip_postgres and args.postgres_table:
        result["postgres"] = compare(DSN, args.postgres_table, args.symbols)
    elif not args.skip_postgres:
        schema = f"preopen_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        try:
            table = f"{schema}.bars"
            writer = open_store(DSN, table=table, create=True, pool_size=LOADERS)
            began = time.perf_counter()
            seed_store(writer, CALENDAR, names, SESSIONS, ["1m"])
            writer.close()
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(schema, "bars")))
            result["postgres_seed_s"] = round(time.perf_counter() - began, 1)
            result["postgres"] = compare(DSN, table, args.symbols)
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(schema)))
    result["loadavg_after"] = loadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
