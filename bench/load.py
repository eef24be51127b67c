"""Benchmark preopen's load path against ADBC and the naive loop, on both row orders.

Data set: 1,000 symbols x 5 sessions x 390 one-minute bars (1.95 M rows),
seeded into a scratch schema of the PostgreSQL server named by
PREOPEN_TEST_DSN (default postgresql://root@127.0.0.1:5432/test; the schema
is created and dropped here) as two tables holding the same rows:

- ``symbol_major``: written symbol by symbol (as ``seed`` writes), with
  preopen's schema.sql (the covering primary key);
- ``time_major``: written one minute at a time for all symbols, as a live
  feed writes, with a plain primary key (symbol, interval, ts): each
  symbol's rows are scattered over the table.

Both are vacuumed and analyzed (they are the benchmark's own tables). On each,
preopen and ADBC first load the table ``--warmups`` times in turns (3 by
default: with one, the first timed preopen load of the just-seeded
time-major table took 0.90-0.98 s against 0.73-0.88 s for the next ones,
ADBC's did not move, and three turns settle it), then every run times,
back to back so that they share the machine's noise:

- preopen: two threads, each one ``load()`` of half the symbols (two
  connections), the shape the store chose from the table;
- ADBC: two connections, each ``where symbol = any($1) and interval = $2 and
  ts >= $3 and ts < $4 order by symbol, ts`` for half the symbols, into
  numpy columns;
- the naive loop: one connection, one text SELECT per symbol, into numpy.

Also the correction check (``fingerprints`` of 4 past sessions) against
loading one session, on PostgreSQL and SQLite. Prints one JSON line with the
load average before and after.

    PYTHONPATH=. python bench/load.py               # 1,000 symbols, 3 runs
    PYTHONPATH=. python bench/load.py --symbols 200 --runs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg import sql

from preopen.calendar import get_calendar
from preopen.store import open_store
from preopen.store.synthetic import seed_store, symbol_names

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.store import BarStore

DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
CALENDAR = get_calendar("XNYS")
SESSIONS = (
    dt.date(2024, 3, 4),
    dt.date(2024, 3, 5),
    dt.date(2024, 3, 6),
    dt.date(2024, 3, 7),
    dt.date(2024, 3, 8),
)
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
PAST = [(CALENDAR.open_at(day), CALENDAR.close_at(day)) for day in SESSIONS[:-1]]
LAST = (CALENDAR.open_at(SESSIONS[-1]), CALENDAR.close_at(SESSIONS[-1]))
THREADS = 2
TARGET_OVER_ADBC = 1.5
TARGET_OVER_NAIVE = 4.0


def seconds(fn: Callable[[], int]) -> tuple[float, int]:
    """Wall seconds of one call and the rows it returned."""
    began = time.perf_counter()
    rows = fn()
    return time.perf_counter() - began, rows


def check_rows(who: str, got: int, expected: int) -> None:
    """Refuse a contender that loaded another number of rows than preopen."""
    if got != expected:
        raise RuntimeError(f"{who} loaded {got} rows, preopen {expected}")


def ratios(slow: list[float], fast: list[float]) -> list[float]:
    """Slow / fast, run by run."""
    return [a / b for a, b in zip(slow, fast, strict=True)]


def halves(names: list[str]) -> list[list[str]]:
    """The symbols cut in THREADS contiguous parts."""
    size = -(-len(names) // THREADS)
    return [names[i : i + size] for i in range(0, len(names), size)]


def preopen_load(store: BarStore, names: list[str], pool: ThreadPoolExecutor) -> int:
    """Each thread one load() of its part, as two loaders do."""
    parts = halves(names)
    loaded = pool.map(lambda part: store.load(part, "1m", START, END), parts)
    return sum(len(bars) for result in loaded for bars in result.values())


def adbc_load(conns: list[Any], table: str, names: list[str], pool: ThreadPoolExecutor) -> int:
    """ADBC: the general-purpose query, one per connection, into numpy columns."""
    query = (
        f"select symbol, ts, open, high, low, close, volume from {table} "
        "where symbol = any($1) and interval = $2 and ts >= $3 and ts < $4 order by symbol, ts"
    )

    def one(k: int, part: list[str]) -> int:
        with conns[k].cursor() as cur:
            cur.execute(query, (part, "1m", START, END))
            arrow = cur.fetch_arrow_table()
            columns = {
                name: arrow.column(name).to_numpy()
                for name in ("ts", "open", "high", "low", "close", "volume")
            }
            return int(columns["ts"].shape[0])

    return sum(pool.map(one, range(THREADS), halves(names)))


def pg_naive(conn: psycopg.Connection[Any], table: sql.Composable, names: list[str]) -> int:
    """The naive loop: one text SELECT per symbol, fetchall, into numpy."""
    query = sql.SQL(
        "select ts, open, high, low, close, volume from {} where symbol = %s and interval = %s "
        "and ts >= %s and ts < %s order by ts"
    ).format(table)
    rows = 0
    for name in names:
        fetched = conn.execute(query, (name, "1m", START, END)).fetchall()
        ts = np.array([r[0].timestamp() for r in fetched], dtype=np.float64)
        values = np.array([r[1:] for r in fetched], dtype=np.float64).reshape(-1, 5)
        rows += min(ts.shape[0], values.shape[0])
    return rows


def correction_check(store: BarStore, names: list[str], pool: ThreadPoolExecutor) -> dict[str, Any]:
    """Fingerprints of the 4 past sessions against loading the last one, both in 2 threads."""
    store.fingerprints(names[:10], "1m", PAST)  # warm
    check, _ = seconds(lambda: sum(
        len(found) for found in pool.map(lambda p: store.fingerprints(p, "1m", PAST), halves(names))
    ))
    load, rows = seconds(lambda: sum(
        len(bars) for result in pool.map(lambda p: store.load(p, "1m", *LAST), halves(names))
        for bars in result.values()
    ))
    return {
        "fingerprints_4_sessions_s": round(check, 3),
        "load_1_session_s": round(load, 3),
        "load_1_session_rows": rows,
        "check_over_one_session_load": round(check / load, 2),
    }


def bench_table(table: str, names: list[str], runs: int, warmups: int) -> dict[str, Any]:
    """Time preopen, ADBC and the naive loop on one table, ``runs`` times back to back.

    Each contender first loads the table ``warmups`` times, in turns.
    """
    schema, name = table.split(".")
    ident = sql.Identifier(schema, name)
    store = open_store(DSN, table=table, pool_size=THREADS)
    out: dict[str, Any] = {"shape": store.method, "facts": repr(store.facts)}  # type: ignore[attr-defined]
    try:
        import adbc_driver_postgresql.dbapi as adbc  # noqa: PLC0415 - the optional bench extra
    except ImportError:
        adbc = None
    with ThreadPoolExecutor(THREADS) as pool, psycopg.connect(DSN) as naive_conn:
        conns = [adbc.connect(DSN) for _ in range(THREADS)] if adbc else []
        try:
            for _ in range(warmups):  # caches, connections, plans; the freshly seeded table
                preopen_load(store, names, pool)
                if conns:
                    adbc_load(conns, f'"{schema}"."{name}"', names, pool)
            figures: dict[str, list[float]] = {"preopen_s": [], "adbc_s": [], "naive_s": []}
            for _ in range(runs):
                took, rows = seconds(lambda: preopen_load(store, names, pool))
                figures["preopen_s"].append(round(took, 3))
                out["rows"] = rows
                if conns:
                    took, adbc_rows = seconds(
                        lambda: adbc_load(conns, f'"{schema}"."{name}"', names, pool)
                    )
                    check_rows("adbc", adbc_rows, rows)
                    figures["adbc_s"].append(round(took, 3))
                took, naive_rows = seconds(lambda: pg_naive(naive_conn, ident, names))
                check_rows("naive", naive_rows, rows)
                figures["naive_s"].append(round(took, 3))
            out.update(figures)
            over_naive = ratios(figures["naive_s"], figures["preopen_s"])
            out["preopen_over_naive"] = [round(x, 2) for x in over_naive]
            if conns:
                over_adbc = ratios(figures["adbc_s"], figures["preopen_s"])
                out["preopen_over_adbc"] = [round(x, 2) for x in over_adbc]
                out["over_adbc_met"] = min(over_adbc) >= TARGET_OVER_ADBC
            else:
                out["adbc"] = "skipped: pip install adbc-driver-postgresql pyarrow"
            out["over_naive_met"] = min(over_naive) >= TARGET_OVER_NAIVE
            out["correction_check"] = correction_check(store, names, pool)
        finally:
            for conn in conns:
                conn.close()
            store.close()
    return out


def seed_postgres(schema: str, names: list[str]) -> dict[str, Any]:
    """The symbol-major table (seeded) and its time-major copy; both vacuumed and analyzed."""
    store = open_store(DSN, table=f"{schema}.symbol_major", create=True, pool_size=THREADS)
    took, rows = seconds(lambda: seed_store(store, CALENDAR, names, SESSIONS, ["1m"]))
    store.close()
    with psycopg.connect(DSN, autocommit=True) as conn:
        by_symbol = sql.Identifier(schema, "symbol_major")
        by_time = sql.Identifier(schema, "time_major")
        conn.execute(
            sql.SQL("create table {} (like {} including defaults)").format(by_time, by_symbol)
        )
        conn.execute(
            sql.SQL("insert into {} select * from {} order by interval, ts, symbol").format(
                by_time, by_symbol
            )
        )
        conn.execute(
            sql.SQL("alter table {} add primary key (symbol, interval, ts)").format(by_time)
        )
        for table in (by_symbol, by_time):
            conn.execute(sql.SQL("vacuum analyze {}").format(table))
    return {"seed_rows": rows, "seed_s": round(took, 2)}


def bench_sqlite(names: list[str], runs: int) -> dict[str, Any]:
    """SQLite: preopen (one thread) against the naive loop; the correction check."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        writer = open_store(url, create=True)
        took, rows = seconds(lambda: seed_store(writer, CALENDAR, names, SESSIONS, ["1m"]))
        writer.close()
        out: dict[str, Any] = {"seed_rows": rows, "seed_s": round(took, 2)}
        store = open_store(url)
        lo, hi = int(START.timestamp()) * 10**9, int(END.timestamp()) * 10**9
        query = (
            "select ts, open, high, low, close, volume from bars where symbol = ? "
            "and interval = ? and ts >= ? and ts < ? order by ts"
        )

        def naive() -> int:
            conn = sqlite3.connect(path)
            total = 0
            for name in names:
                fetched = conn.execute(query, (name, "1m", lo, hi)).fetchall()
                total += np.array(fetched, dtype=np.float64).reshape(-1, 6).shape[0]
            conn.close()
            return total

        def load() -> int:
            return sum(len(b) for b in store.load(names, "1m", START, END).values())

        load()
        out["preopen_s"] = [round(seconds(load)[0], 3) for _ in range(runs)]
        out["naive_s"] = [round(seconds(naive)[0], 3) for _ in range(runs)]
        out["preopen_over_naive"] = [
            round(n / p, 2) for n, p in zip(out["naive_s"], out["preopen_s"], strict=True)
        ]
        with ThreadPoolExecutor(1) as pool:
            out["correction_check"] = correction_check(store, names, pool)
        store.close()
    return out


def main() -> None:
    """Seed, time every loader on both row orders, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmups", type=int, default=3,
                        help="untimed loads of each table by each contender, in turns, first")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    names = symbol_names(args.symbols)
    figures: dict[str, Any] = {
        "bench": "load",
        "symbols": len(names),
        "sessions": len(SESSIONS),
        "interval": "1m",
        "runs": args.runs,
        "warmups": args.warmups,
        "threads": THREADS,
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    schema = f"preopen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    try:
        pg: dict[str, Any] = seed_postgres(schema, names)
        for order in ("symbol_major", "time_major"):
            pg[order] = bench_table(f"{schema}.{order}", names, args.runs, args.warmups)
        figures["postgresql"] = pg
        figures["target_met"] = all(
            pg[order].get("over_adbc_met", False) for order in ("symbol_major", "time_major")
        ) and bool(pg["time_major"]["over_naive_met"])
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    if not args.skip_sqlite:
        figures["sqlite"] = bench_sqlite(names, args.runs)
    figures["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
