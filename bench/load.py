"""Benchmark preopen's load path against the loaders a user would otherwise pick.

Data set: 1,000 symbols x 5 sessions x 390 one-minute bars (1.95 M rows),
seeded into a scratch schema of the PostgreSQL server named by
PREOPEN_TEST_DSN (default postgresql://root@127.0.0.1:5432/test; the schema
is created and dropped here) and into a temporary SQLite file. Each entry is
the best of 5 runs after a warm-up. Prints one JSON line.

    python bench/load.py            # the full data set
    python bench/load.py --symbols 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
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

DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
SESSIONS = (
    dt.date(2024, 3, 4),
    dt.date(2024, 3, 5),
    dt.date(2024, 3, 6),
    dt.date(2024, 3, 7),
    dt.date(2024, 3, 8),
)
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
RUNS = 5


def best(fn: Callable[[], int]) -> dict[str, float]:
    """Best of RUNS after one warm-up; fn returns the rows it loaded."""
    rows = fn()
    seconds = float("inf")
    for _ in range(RUNS):
        began = time.perf_counter()
        rows = fn()
        seconds = min(seconds, time.perf_counter() - began)
    return {"rows": rows, "seconds": round(seconds, 4), "rows_per_s": round(rows / seconds)}


def timed_store(
    url: str, table: str | None, pool: int, names: list[str], method: str = "default"
) -> dict[str, float]:
    """Best-of timing of a preopen store's load of every symbol."""
    store = open_store(url, pool_size=pool, table=table)
    if method != "default":
        store.method = method  # type: ignore[attr-defined]
    try:
        return best(lambda: sum(len(b) for b in store.load(names, "1m", START, END).values()))
    finally:
        store.close()


def pg_naive(table: sql.Composable, names: list[str]) -> int:
    """The naive loop: one text SELECT per symbol, fetchall, into numpy."""
    query = sql.SQL(
        "select ts, open, high, low, close, volume from {} where symbol = %s and interval = %s "
        "and ts >= %s and ts < %s order by ts"
    ).format(table)
    rows = 0
    with psycopg.connect(DSN) as conn:
        for name in names:
            fetched = conn.execute(query, (name, "1m", START, END)).fetchall()
            ts = np.array([r[0].timestamp() for r in fetched], dtype=np.float64)
            values = np.array([r[1:] for r in fetched], dtype=np.float64).reshape(-1, 5)
            rows += min(ts.shape[0], values.shape[0])
    return rows


def pg_raw_copy(table: sql.Composable, names: list[str]) -> int:
    """Raw binary COPY bytes of every row, read and thrown away (one connection)."""
    query = sql.SQL(
        "copy (select ts, open, high, low, close, volume from {} where symbol = any(%s) "
        "and interval = %s and ts >= %s and ts < %s order by symbol, ts) to stdout (format binary)"
    ).format(table)
    rows = 0
    with psycopg.connect(DSN) as conn, conn.cursor().copy(query, (names, "1m", START, END)) as cp:
        for _ in cp:
            rows += 1
    return rows - 1  # the trailer


def pg_adbc(table: str, names: list[str], connections: int) -> int | None:
    """ADBC fetch_arrow_table over ``connections`` connections in threads, or None."""
    try:
        import adbc_driver_postgresql.dbapi as adbc  # noqa: PLC0415 - the optional bench extra
    except ImportError:
        return None
    schema, name = table.split(".")
    query = (
        f'select symbol, ts, open, high, low, close, volume from "{schema}"."{name}" '
        "where symbol >= $1 and symbol <= $2 and interval = '1m' and ts >= $3 and ts < $4 "
        "order by symbol, ts"
    )
    size = -(-len(names) // connections)
    parts = [names[i : i + size] for i in range(0, len(names), size)]

    def one(part: list[str]) -> int:
        with adbc.connect(DSN) as conn, conn.cursor() as cur:
            cur.execute(query, (part[0], part[-1], START, END))
            return int(cur.fetch_arrow_table().num_rows)

    with ThreadPoolExecutor(connections) as pool:
        return sum(pool.map(one, parts))


def sqlite_naive(path: Path, names: list[str]) -> int:
    """The naive SQLite loop: one SELECT per symbol, fetchall, into numpy."""
    conn = sqlite3.connect(path)
    query = (
        "select ts, open, high, low, close, volume from bars where symbol = ? "
        "and interval = ? and ts >= ? and ts < ? order by ts"
    )
    lo, hi = int(START.timestamp()) * 10**9, int(END.timestamp()) * 10**9
    rows = 0
    for name in names:
        fetched = conn.execute(query, (name, "1m", lo, hi)).fetchall()
        rows += np.array(fetched, dtype=np.float64).reshape(-1, 6).shape[0]
    conn.close()
    return rows


def _status_kib(field: str) -> int:
    """A VmRSS/VmHWM figure of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_child(url: str, table: str, symbols: int) -> None:
    """Measure, in a fresh process, the RSS a load adds against the bytes it returns.

    The high-water mark is reset just before the load (clear_refs 5), so the
    peak is the load's own, not the imports' or the parent's.
    """
    names = symbol_names(symbols)
    store = open_store(url, pool_size=2, table=table or None)
    before = _status_kib("VmRSS") * 1024
    Path("/proc/self/clear_refs").write_text("5")
    result = store.load(names, "1m", START, END)
    peak = _status_kib("VmHWM") * 1024
    nbytes = sum(b.nbytes for b in result.values())
    store.close()
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak / 2**20, 1),
                "rss_before_load_mb": round(before / 2**20, 1),
                "arrays_mb": round(nbytes / 2**20, 1),
                "added_rss_over_arrays": round((peak - before) / nbytes, 2),
            }
        )
    )


def measure_rss(url: str, table: str, symbols: int) -> dict[str, Any]:
    """Run :func:`rss_child` in a fresh interpreter and return its figures."""
    out = subprocess.run(  # noqa: S603 - this very script, fixed arguments
        [sys.executable, __file__, "--rss-child", url, "--table", table, "--symbols", str(symbols)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:  # noqa: PLR0915 - one linear script: seed, time, report
    """Seed, time every loader, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--rss-child", default="")
    parser.add_argument("--table", default="")
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.table, args.symbols)
        return
    calendar = get_calendar("XNYS")
    names = symbol_names(args.symbols)
    figures: dict[str, Any] = {
        "symbols": len(names),
        "sessions": len(SESSIONS),
        "interval": "1m",
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    schema = f"preopen_bench_{uuid.uuid4().hex[:8]}"
    table = f"{schema}.bars"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    try:
        store = open_store(DSN, table=table, create=True)
        began = time.perf_counter()
        figures["pg_seed_rows"] = seed_store(store, calendar, names, SESSIONS, ["1m"])
        figures["pg_seed_s"] = round(time.perf_counter() - began, 2)
        store.close()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(schema, "bars")))
        ident = sql.Identifier(schema, "bars")
        pg: dict[str, Any] = {}
        for pool in (1, 2):
            pg[f"preopen_pool{pool}"] = timed_store(DSN, table, pool, names)
            pg[f"preopen_rows_pool{pool}"] = timed_store(DSN, table, pool, names, "rows")
        pg["naive_loop"] = best(lambda: pg_naive(ident, names))
        pg["raw_copy_bytes"] = best(lambda: pg_raw_copy(ident, names))
        if pg_adbc(table, names, 2) is not None:
            pg["adbc_2conn"] = best(lambda: pg_adbc(table, names, 2) or 0)
        else:
            pg["adbc_2conn"] = "skipped: pip install adbc-driver-postgresql pyarrow"
        fast = pg["preopen_pool2"]["seconds"]
        pg["preopen_over_naive"] = round(pg["naive_loop"]["seconds"] / fast, 2)
        if isinstance(pg["adbc_2conn"], dict):
            pg["preopen_over_adbc"] = round(pg["adbc_2conn"]["seconds"] / fast, 2)
        pg["memory"] = measure_rss(DSN, table, len(names))
        figures["postgresql"] = pg
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        store = open_store(url)
        began = time.perf_counter()
        figures["sqlite_seed_rows"] = seed_store(store, calendar, names, SESSIONS, ["1m"])
        figures["sqlite_seed_s"] = round(time.perf_counter() - began, 2)
        store.close()
        lite: dict[str, Any] = {"preopen": timed_store(url, None, 1, names)}
        lite["naive_loop"] = best(lambda: sqlite_naive(path, names))
        lite["preopen_over_naive"] = round(
            lite["naive_loop"]["seconds"] / lite["preopen"]["seconds"], 2
        )
        lite["memory"] = measure_rss(url, "", len(names))
        figures["sqlite"] = lite
    figures["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
