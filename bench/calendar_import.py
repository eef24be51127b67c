"""How long a fresh process takes to import the calendar and answer one question.

Runs ``from preopen.calendar import get_calendar;
get_calendar("XNYS").next_session(...)`` in new Python processes and prints
one JSON line (milliseconds, medians over the runs):

- ``process_ms``: wall time of the whole process, interpreter start included;
- ``python_startup_ms``: the same for an empty ``python -c pass``;
- ``in_process_ms``: from the first import to the answer, inside the process;
- ``pendulum_import_ms``: the part of that spent importing pendulum;
- ``calendar_ms``: the rest: importing preopen.calendar (pendulum already
  loaded), building XNYS and answering ``next_session``;
- ``heavy_modules``: numpy/pykka/psycopg found loaded afterwards (should be []);
- ``exchange_calendars_ms``: the same question asked of exchange_calendars,
  only when that package is installed (it is not a dependency).

Usage: ``python bench/calendar_import.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time

_CHILD = """
import sys, time, json
t0 = time.perf_counter()
import pendulum
t1 = time.perf_counter()
import datetime
from preopen.calendar import get_calendar
answer = get_calendar("XNYS").next_session(datetime.date(2025, 7, 3))
t2 = time.perf_counter()
heavy = sorted(m for m in ("numpy", "pykka", "psycopg", "psycopg_pool") if m in sys.modules)
print(json.dumps({"total": (t2 - t0) * 1e3, "pendulum": (t1 - t0) * 1e3,
                  "calendar": (t2 - t1) * 1e3, "answer": answer.isoformat(), "heavy": heavy}))
"""

_CHILD_EC = """
import time, json
t0 = time.perf_counter()
import exchange_calendars
t1 = time.perf_counter()
cal = exchange_calendars.get_calendar("XNYS")
answer = cal.next_session("2025-07-03")
t2 = time.perf_counter()
print(json.dumps({"total": (t2 - t0) * 1e3, "import": (t1 - t0) * 1e3}))
"""


def _run(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - runs this interpreter on a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return (time.perf_counter() - start) * 1e3, done.stdout


def main() -> None:
    """Measure and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    startup = [_run("pass")[0] for _ in range(runs)]
    process, inside, pendulum_ms, calendar_ms = [], [], [], []
    heavy: list[str] = []
    answer = ""
    for _ in range(runs):
        wall, out = _run(_CHILD)
        child = json.loads(out)
        process.append(wall)
        inside.append(child["total"])
        pendulum_ms.append(child["pendulum"])
        calendar_ms.append(child["calendar"])
        heavy = sorted(set(heavy) | set(child["heavy"]))
        answer = child["answer"]
    figures: dict[str, object] = {
        "bench": "calendar_import",
        "runs": runs,
        "answer": answer,
        "process_ms": round(statistics.median(process), 1),
        "python_startup_ms": round(statistics.median(startup), 1),
        "in_process_ms": round(statistics.median(inside), 1),
        "pendulum_import_ms": round(statistics.median(pendulum_ms), 1),
        "calendar_ms": round(statistics.median(calendar_ms), 1),
        "calendar_max_ms": round(max(calendar_ms), 1),
        "heavy_modules": heavy,
    }
    if importlib.util.find_spec("exchange_calendars") is not None:
        ec = [json.loads(_run(_CHILD_EC)[1]) for _ in range(max(3, runs // 3))]
        figures["exchange_calendars_ms"] = round(statistics.median(r["total"] for r in ec), 1)
        figures["exchange_calendars_import_ms"] = round(
            statistics.median(r["import"] for r in ec), 1
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
