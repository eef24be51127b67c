"""Benchmark assembling a session's snapshot: time, peak RSS, and what the snapshot holds.

Builds the loaders' output synthetically in-process ({(symbol, interval):
Bars}, 10,000 symbols x (1m, 1d) x 5 sessions by default; no database),
then assembles it as the scheduler does (one table per interval, validated
on the table) and prints one JSON line: the assembly time, the RSS before,
the peak during (VmHWM, reset through /proc/self/clear_refs) and after,
its CPU time (``process_time``; on a busy machine the wall time is mostly waiting),
and the numpy arrays and Python objects reachable from the snapshot
(walking ``gc.get_referents``; classes, modules and functions aside).

It also runs against an older preopen whose snapshot was a dict of Bars
(``PYTHONPATH=/path/to/old python bench/assembly.py``): there, assembly is
``validate`` + ``SessionSnapshot(data=...)``, as its scheduler did.

    python bench/assembly.py
    python bench/assembly.py --symbols 1000 --sessions 5 --intervals 1m,1d
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

import preopen
from preopen.calendar import get_calendar
from preopen.model import SessionSnapshot, validate
from preopen.store.synthetic import symbol_names, synthetic_bars

CAL = get_calendar("XNYS")
SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def status(field: str) -> int:
    """A /proc/self/status field in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def held(root: object) -> tuple[int, int]:
    """(numpy arrays, Python objects) reachable from ``root``."""
    seen: set[int] = set()
    stack = [root]
    arrays = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, SKIP):
            continue
        seen.add(id(obj))
        arrays += isinstance(obj, np.ndarray)
        stack.extend(gc.get_referents(obj))
    return arrays, len(seen)


def assemble(day: dt.date, trailing: list[dt.date], data: dict[Any, Any],
             intervals: list[str]) -> Any:  # noqa: ANN401 - a snapshot of either version
    """Assemble as the scheduler of this preopen does."""
    built = dt.datetime.now(dt.UTC)
    if hasattr(SessionSnapshot, "assemble"):
        return SessionSnapshot.assemble(day, CAL.open_at(day), CAL.close_at(day), data, CAL,
                                        trailing, intervals, built)
    report = validate(data, CAL, trailing, intervals)
    return SessionSnapshot(session=day, open=CAL.open_at(day), close=CAL.close_at(day),
                           data=dict(data), report=report, built_at=built)


def main() -> None:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--intervals", default="1m,1d")
    args = parser.parse_args()
    intervals = args.intervals.split(",")
    day = dt.date(2024, 6, 3)
    trailing = list(CAL.trailing_sessions(day, args.sessions))
    names = symbol_names(args.symbols)
    data: dict[tuple[str, str], Any] = {}
    for interval in intervals:
        for symbol, bars in synthetic_bars(names, CAL, trailing, interval).items():
            data[symbol, interval] = bars
    gc.collect()
    rss_before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    gc_before = gc.get_count()
    started, cpu = time.perf_counter(), time.process_time()
    snapshot = assemble(day, trailing, data, intervals)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = status("VmHWM")
    del data
    gc.collect()
    arrays, objects = held(snapshot)
    print(json.dumps({
        "bench": "assembly",
        "preopen": str(Path(preopen.__file__).parent),
        "symbols": args.symbols,
        "sessions": args.sessions,
        "intervals": intervals,
        "bars": snapshot.nbars,
        "bytes": snapshot.nbytes,
        "complete": snapshot.report.complete,
        "assembly_s": round(seconds, 3),
        "assembly_cpu_s": round(cpu, 3),  # this process's CPU time: less sensitive to load
        "rss_before_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "peak_over_before_mb": round((peak - rss_before) / 1024, 1),
        "rss_after_mb": round(status("VmRSS") / 1024, 1),
        "arrays_held": arrays,
        "objects_held": objects,
        "gc_counts_before": gc_before,
        "loadavg": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
