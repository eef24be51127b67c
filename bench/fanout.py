"""One hub and N hosts on loopback against every host reading PostgreSQL itself.

Data set: ``--symbols`` symbols (default 10,000) x 1m x the 5 sessions before
2024-12-02, seeded with preopen.store.synthetic into a table of this
benchmark's own schema (``preopen_bench_fanout``, kept between runs so the
seed is paid once; ``--drop`` removes it) on the PostgreSQL server named by
PREOPEN_TEST_DSN (default postgresql://root@127.0.0.1:5432/test).

Two runs, each from the moment every host process is started and waiting:

- ``direct``: ``--hosts`` host processes each prefetch the session for the
  whole universe straight from PostgreSQL;
- ``hub``: one hub process prefetches it from PostgreSQL, freezes it and
  serves it over Arrow Flight; the hosts prefetch it from the hub
  (``store = ["grpc://127.0.0.1:P", "postgresql://..."]``).

Measured: seconds until every host holds the complete snapshot, and the rows
the database read for it (``seq_tup_read + idx_tup_fetch`` of the table in
``pg_stat_user_tables``, before and after). Prints one JSON line.

    python bench/fanout.py                    # 10,000 symbols, 4 hosts
    python bench/fanout.py --symbols 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from preopen.calendar import get_calendar  # noqa: E402
from preopen.store import open_store  # noqa: E402
from preopen.store.synthetic import seed_store, symbol_names  # noqa: E402

DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
SCHEMA = "preopen_bench_fanout"
SESSION = dt.date(2024, 12, 2)
XNYS = get_calendar("XNYS")
WAIT_S = 1800.0


def table_name(symbols: int) -> str:
    """The benchmark's table for that many symbols."""
    return f"{SCHEMA}.bars_{symbols}"


def seed(symbols: int) -> None:
    """Create and fill the table once (kept for the next run)."""
    trailing = XNYS.trailing_sessions(SESSION, 5)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
    store = open_store(DSN, table=table_name(symbols), create=True, pool_size=2)
    try:
        with psycopg.connect(DSN) as conn:
            rows = conn.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(SCHEMA, f"bars_{symbols}"))).fetchone()
        expected = symbols * (390 * 4 + 210)
        if rows is None or rows[0] != expected:
            seed_store(store, XNYS, symbols, trailing, ("1m",))
    finally:
        store.close()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(SCHEMA, f"bars_{symbols}")))


def rows_read(symbols: int) -> int:
    """seq_tup_read + idx_tup_fetch of the table, flushed."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute(
            "select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
            "from pg_stat_user_tables where schemaname = %s and relname = %s",
            (SCHEMA, f"bars_{symbols}")).fetchone()
    return int(row[0]) if row else 0


def settled_rows(symbols: int, before: int) -> int:
    """Rows read since ``before``, once the statistics stop moving (backends flush late)."""
    last, stable = -1, 0
    deadline = time.monotonic() + 30
    while stable < 3 and time.monotonic() < deadline:
        now = rows_read(symbols)
        stable = stable + 1 if now == last else 0
        last = now
        time.sleep(0.5)
    return last - before


# --- the processes ---------------------------------------------------------------


def _runtime_settings(store: Any, symbols: int) -> Any:  # noqa: ANN401
    from preopen.settings import Settings  # noqa: PLC0415

    return Settings(store=store, table=table_name(symbols), symbols=tuple(symbol_names(symbols)),
                    intervals=("1m",), trailing_days=5, loaders=2, batch_size=500)


def _prefetch(settings: Any, on_frozen: Any = None) -> Any:  # noqa: ANN401
    """Prefetch SESSION on a simulated clock; return (snapshot, status)."""
    from preopen.clock import SimulatedClock  # noqa: PLC0415
    from preopen.runtime import Runtime  # noqa: PLC0415

    window = XNYS.open_at(SESSION) - dt.timedelta(minutes=60)
    clock = SimulatedClock(window - dt.timedelta(minutes=5), settle_timeout=WAIT_S)
    with Runtime.start(settings, clock=clock, on_frozen=on_frozen) as runtime:
        clock.advance(dt.timedelta(0))
        print("ready", flush=True)
        sys.stdin.readline()  # the go
        clock.advance_to(window + dt.timedelta(minutes=1))
        runtime.wait_for(lambda s: s.session == SESSION and s.prefetch_seconds is not None
                         and s.progress.pending == 0, timeout=WAIT_S)
        clock.advance_to(XNYS.open_at(SESSION))
        runtime.wait_for(lambda s: s.serving == SESSION, timeout=WAIT_S)
        return runtime.snapshot(), runtime.status()


def host(store: str, symbols: int) -> None:
    """A host process: prefetch the session, print when it holds it."""
    stores = tuple(store.split("|")) if "|" in store else store
    snapshot, status = _prefetch(_runtime_settings(stores, symbols))
    print(json.dumps({"done": time.time(), "symbols": len(snapshot.symbols),
                      "bars": snapshot.nbars, "complete": snapshot.report.complete,
                      "served": status.store_served, "fallbacks": status.store_fallbacks}),
          flush=True)


def hub(symbols: int) -> None:
    """The hub process: prefetch from PostgreSQL, serve the frozen snapshot."""
    from preopen.hub import SnapshotHub  # noqa: PLC0415

    server = SnapshotHub("grpc://127.0.0.1:0", calendar=XNYS, trailing_days=5)
    print(f"port {server.port}", flush=True)
    snapshot, _ = _prefetch(_runtime_settings(DSN, symbols), on_frozen=server.offer)
    print(json.dumps({"done": time.time(), "symbols": len(snapshot.symbols)}),
          flush=True)
    sys.stdin.readline()  # serve until told to stop
    server.shutdown()


# --- the orchestration -----------------------------------------------------------


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,  # noqa: S603
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _expect(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None  # noqa: S101
    while True:
        line = proc.stdout.readline()
        if not line:
            msg = f"process {proc.args} ended before {prefix!r}"
            raise RuntimeError(msg)
        if line.startswith(prefix):
            return line


def _go(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdin is not None  # noqa: S101
        proc.stdin.write("go\n")
        proc.stdin.flush()


def run_hosts(store: str, symbols: int, count: int, began: float | None = None) -> dict[str, Any]:
    """Start ``count`` hosts, wait until all are ready, go; seconds until all hold the session."""
    procs = [_spawn("--role", "host", "--store", store, "--symbols", str(symbols))
             for _ in range(count)]
    try:
        for proc in procs:
            _expect(proc, "ready")
        start = time.time() if began is None else began
        _go(procs)
        results = [json.loads(_expect(proc, "{")) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
    return {"seconds": max(r["done"] for r in results) - start, "hosts": results}


def main() -> None:
    """Run both ways; print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--role", choices=["bench", "host", "hub"], default="bench")
    parser.add_argument("--store", default=DSN)
    parser.add_argument("--drop", action="store_true", help="drop the benchmark's schema")
    args = parser.parse_args()
    if args.role == "host":
        host(args.store, args.symbols)
        return
    if args.role == "hub":
        hub(args.symbols)
        return
    if args.drop:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(SCHEMA)))
        return
    load_before = os.getloadavg()[0]
    seed(args.symbols)

    before = rows_read(args.symbols)
    direct = run_hosts(DSN, args.symbols, args.hosts)
    direct_rows = settled_rows(args.symbols, before)

    before = rows_read(args.symbols)
    hub_proc = _spawn("--role", "hub", "--symbols", str(args.symbols))
    try:
        port = int(_expect(hub_proc, "port").split()[1])
        _expect(hub_proc, "ready")
        # The hosts wait, ready, while the hub loads; the clock starts with the hub's load.
        began = time.time()
        _go([hub_proc])
        hub_done = json.loads(_expect(hub_proc, "{"))
        fanned = run_hosts(f"grpc://127.0.0.1:{port}|{DSN}", args.symbols, args.hosts)
    finally:
        hub_proc.kill()
        hub_proc.wait(timeout=30)
    hub_rows = settled_rows(args.symbols, before)
    bars = direct["hosts"][0]["bars"]
    print(json.dumps({
        "bench": "fanout", "symbols": args.symbols, "interval": "1m", "sessions": 5,
        "hosts": args.hosts, "bars_per_host": bars,
        "direct": {"seconds": round(direct["seconds"], 2), "db_rows_read": direct_rows},
        "hub": {"hub_load_seconds": round(hub_done["done"] - began, 2),
                "fanout_seconds": round(fanned["seconds"], 2),
                "seconds": round(fanned["seconds"] + hub_done["done"] - began, 2),
                "db_rows_read": hub_rows,
                "served_by": sorted({h["served"] for h in fanned["hosts"]}),
                "host_fallbacks": sum(h["fallbacks"] for h in fanned["hosts"])},
        "complete": all(h["complete"] for h in direct["hosts"] + fanned["hosts"]),
        "rows_read_ratio": round(direct_rows / hub_rows, 2) if hub_rows else None,
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    main()
