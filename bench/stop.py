"""Benchmark how fast preopen stops when a store call does not return.

Three wall-clock figures, each the median of ``--repeats`` runs:

- ``stop_interrupted_s``: ``Runtime.stop(5)`` while a load is blocked in a
  store whose ``interrupt()`` ends it (what the PostgreSQL and SQLite stores
  do): the stop and every thread joined.
- ``stop_stuck_s``: ``Runtime.stop(--stop-timeout)`` while a load is blocked
  in a store that ignores ``interrupt()`` (a call stuck in foreign code): the
  stop returns at its timeout, naming the stuck loader (``stuck_threads``),
  and ``host_exit_s`` is how long a host process that did that takes from
  its start to its end (it exits: the loader is a daemon thread).
- ``serve_sigterm_s`` (unless ``--skip-pg``): from SIGTERM to the process gone
  for ``preopen serve`` whose load waits on an ACCESS EXCLUSIVE lock another
  session holds on its table (PREOPEN_TEST_DSN, default
  postgresql://root@127.0.0.1:5432/test; a scratch schema created and
  dropped here), and its exit code.

Prints one JSON line, with the load average.

    python bench/stop.py
    python bench/stop.py --skip-pg --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pendulum  # noqa: E402

from preopen import Runtime, Settings, SimulatedClock, StopTimeoutError  # noqa: E402
from preopen.errors import StoreInterruptedError  # noqa: E402
from preopen.model import Bars  # noqa: E402

START = pendulum.datetime(2024, 11, 26, 8, 29, tz="America/New_York")
WINDOW = START.add(minutes=1)


class BlockingStore:
    """A store whose loads block until released (by ``interrupt()`` when it honours it)."""

    url = "blocking://"

    def __init__(self, *, honours_interrupt: bool) -> None:
        self.honours_interrupt = honours_interrupt
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self, symbols, interval, start, end):  # noqa: ANN001, ANN201, ARG002
        """Block until released; interrupted, raise StoreInterruptedError."""
        self.entered.set()
        self.release.wait()
        if self.honours_interrupt:
            raise StoreInterruptedError(operation="load")
        return {s: Bars.empty(s, interval) for s in symbols}

    def fingerprints(self, symbols, interval, ranges):  # noqa: ANN001, ANN201, ARG002, D102
        return {}

    def write(self, interval, bars_by_symbol):  # noqa: ANN001, ANN201, ARG002, D102
        return 0

    def symbols(self):  # noqa: ANN201, D102
        return ("AAA",)

    def interrupt(self) -> None:
        """Release a blocked load when the store honours interrupts."""
        if self.honours_interrupt:
            self.release.set()

    def close(self) -> None:
        """Nothing to release."""


def one_stop(*, honours_interrupt: bool, timeout: float) -> tuple[float, tuple[str, ...]]:
    """Block a load, stop; return the stop's duration and the threads it named."""
    store = BlockingStore(honours_interrupt=honours_interrupt)
    clock = SimulatedClock(START, settle_timeout=600)
    runtime = Runtime.start(Settings(symbols=("AAA", "BBB"), loaders=2, batch_size=1,
                                     intervals=("5m",), trailing_days=2),
                            clock=clock, store=store)
    threading.Thread(target=lambda: _quiet(clock.advance_to, WINDOW), daemon=True).start()
    if not store.entered.wait(30):
        raise SystemExit("no load reached the store")
    started = time.perf_counter()
    stuck: tuple[str, ...] = ()
    try:
        runtime.stop(timeout)
    except StopTimeoutError as exc:
        stuck = exc.threads
    elapsed = time.perf_counter() - started
    store.release.set()  # let this process's stuck thread go before the next run
    return elapsed, stuck


def _quiet(call, *args) -> None:  # noqa: ANN001, ANN002
    with contextlib.suppress(Exception):  # the stop fails the advance on purpose
        call(*args)


HOST = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {bench!r})
    from stop import BlockingStore, START, WINDOW
    from preopen import Runtime, Settings, SimulatedClock, StopTimeoutError
    store = BlockingStore(honours_interrupt=False)
    clock = SimulatedClock(START, settle_timeout=600)
    runtime = Runtime.start(Settings(symbols=("AAA",), loaders=1, intervals=("5m",),
                                     trailing_days=2), clock=clock, store=store)
    threading.Thread(target=clock.advance_to, args=(WINDOW,), daemon=True).start()
    store.entered.wait(30)
    try:
        runtime.stop({timeout})
    except StopTimeoutError:
        pass
""")


def host_exit(timeout: float) -> float:
    """Seconds from starting a host whose store call never returns to its process's end."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "host.py"
        script.write_text(HOST.format(root=str(ROOT), bench=str(ROOT / "bench"), timeout=timeout))
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script)], check=True, timeout=120,  # noqa: S603
                       capture_output=True)
        return time.perf_counter() - started


CALENDAR = ('name = "ALWAYS"\ntimezone = "UTC"\nopen = "00:00"\nclose = "23:59"\n'
            'weekend = []\nfirst_year = 2020\nlast_year = 2099\n')


def serve_sigterm(dsn: str) -> tuple[float, int]:
    """SIGTERM to ``serve`` whose load waits on a lock: seconds until it is gone, its code."""
    import psycopg  # noqa: PLC0415 - only with a server

    from preopen.store import open_store  # noqa: PLC0415

    schema = f"preopen_bench_stop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    table = f"{schema}.bars"
    try:
        url = f"{dsn}?table={table}"
        open_store(url, create=True).close()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "always.toml").write_text(CALENDAR)
            config = Path(tmp) / "preopen.toml"
            config.write_text(f'exchange = "{Path(tmp) / "always.toml"}"\nstore = "{url}"\n'
                              'symbols = ["AAA"]\nloaders = 1\nwindow_minutes = 1\n'
                              'intervals = ["1d"]\ntrailing_days = 1\n')
            with psycopg.connect(dsn) as holder, psycopg.connect(dsn, autocommit=True) as watch:
                holder.execute(f"lock table {table} in access exclusive mode")
                proc = subprocess.Popen([sys.executable, "run.py", "serve", "--config",  # noqa: S603
                                         str(config)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        waiting = watch.execute(
                            "select count(*) from pg_locks where relation = %s::regclass "
                            "and not granted", (table,)).fetchone()
                        if waiting and waiting[0]:
                            break
                        time.sleep(0.05)
                    else:
                        raise SystemExit("serve's load never waited on the lock")
                    started = time.perf_counter()
                    proc.send_signal(signal.SIGTERM)
                    code = proc.wait(timeout=120)
                    return time.perf_counter() - started, code
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    holder.rollback()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


def main() -> None:
    """Run the measurements; print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stop-timeout", type=float, default=2.0)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    interrupted = [one_stop(honours_interrupt=True, timeout=5.0)[0] for _ in range(args.repeats)]
    stuck_runs = [one_stop(honours_interrupt=False, timeout=args.stop_timeout)
                  for _ in range(args.repeats)]
    out: dict[str, object] = {
        "stop_interrupted_s": round(statistics.median(interrupted), 4),
        "stop_interrupted_max_s": round(max(interrupted), 4),
        "stop_timeout_s": args.stop_timeout,
        "stop_stuck_s": round(statistics.median(t for t, _ in stuck_runs), 4),
        "stuck_threads": list(stuck_runs[-1][1]),
        "host_exit_s": round(host_exit(args.stop_timeout), 3),
        "repeats": args.repeats,
    }
    if not args.skip_pg:
        dsn = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
        runs = [serve_sigterm(dsn) for _ in range(args.repeats)]
        out["serve_sigterm_s"] = round(statistics.median(t for t, _ in runs), 3)
        out["serve_sigterm_max_s"] = round(max(t for t, _ in runs), 3)
        out["serve_exit_codes"] = sorted({code for _, code in runs})
    out["loadavg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
