"""Benchmark the open as the host sees it: from the open tick to the host's first read.

Prints one JSON line. For each symbol count in ``--sizes`` (each symbol with
1m bars over 5 trailing sessions: 1,950 bars, so 10,000 symbols hold 19.5 M
bars, 936 MB of columns) and each host mode in ``--modes``, one runtime is
driven through ``--activations`` consecutive sessions (plus one warm-up
open, not counted: it replaces no snapshot), and the row gives p50/p99/max
in microseconds of:

- ``host_us``: from the instant the clock reaches the open
  (``perf_counter`` read just before the SimulatedClock is moved to it, on
  the thread driving the clock; the open tick is delivered in that move) to
  the instant the host has read the last close of one symbol of the new
  session (``snapshot.bars(symbol, "1m").close[-1]``; ``perf_counter`` read
  just after). This covers whatever runs before the host's read: for a
  snapshot armed before its open, a polling host's read compares the clock
  with the open and needs no thread; an ``on_activated`` callback runs
  after the SessionDataActor, woken by the tick, has swapped. It does not
  cover how late an OS timer wakes: on a
  :class:`~preopen.clock.SystemClock` a poll is served at the open by the
  clock itself, a callback after the timer thread wakes. The clock is a
  SimulatedClock (each session's prefetch runs to its end before the open
  tick, and the clock waits for the open's acknowledgement before the next
  session), so hundreds of consecutive opens take minutes, not days.
- ``swap_us``: the runtime's own activation latency
  (``RuntimeStatus.activation_latency_s``: from the open tick's delivery
  to the SessionDataActor serving the armed snapshot).

The host keeps only the current snapshot: on reading a new session it
drops its reference to the previous one (after the timed read), as a host
with no memory to spare would; the bench's own thread holds none. Modes:

- ``poll``: a host thread polls ``runtime.snapshot()`` in a tight loop, from
  just before the open tick until it sees the new session (no sleep; with
  ``--poll-sleep-us`` it sleeps that long between polls, 0 = yield the GIL
  with ``time.sleep(0)``). A tight loop holds the GIL except at forced
  switches (every ``sys.getswitchinterval()``, printed), so the runtime's
  threads wait for it: that is what such a host costs itself.
- ``callback``: the host reads in its ``on_activated`` callback (run in the
  SessionDataActor's thread right after the swap).

The bars come from an in-memory store (load/symbols/close) whose Bars are
read-only views of one synthetic array (no per-symbol copy, nothing to
seed): the open is isolated from the store, while each session's snapshot
is still assembled (one copy into its table) and validated as in
production.

Also in the row: ``gc_in_open`` (the garbage collections that ran during a
measured span: how many, the highest generation, the longest in ms),
``forced_gc`` (how many times the scheduler's forced ``gc.collect()`` after
a freeze was called, and the ms it took), the median prefetch time, the
snapshot size, the wall time and the load average at the row's end. At the
top level: the load average (``os.getloadavg``: 1, 5, 15 minutes) at the
start and the end, the GIL's switch interval, and whether ``gc.collect`` was
disabled.

Options:
    --sizes 1000,10000     symbol counts (default 1000,10000).
    --modes poll,callback  host modes (default both).
    --activations N        measured opens per size and mode (default 100;
                           at most 1,247: the sessions of 2022-2026).
    --poll-sleep-us US     poll mode: sleep between polls (default: none, a
                           tight loop; 0: ``time.sleep(0)``).
    --switch-interval-us US  set ``sys.setswitchinterval`` for the run (a
                           host's choice; default: Python's, 5,000).
    --no-gc-collect        make ``gc.collect`` a no-op in this process (the
                           scheduler's forced collection after a freeze is
                           the only caller), to decide from measurement
                           whether that forced collection is still needed;
                           the automatic collector still runs.
    --pg                   also measure the session start with vs without
                           the prefetch from PostgreSQL (``session_start_pg``:
                           1,000 symbols x (1m, 1d) x 5 sessions;
                           PREOPEN_TEST_DSN, default the local server; a
                           scratch schema is created and dropped).
    --repeats N            runs of each ``--pg`` measurement (default 3).
    --settle-ms MS         pause before each measured open (default 500): in
                           production opens are a day apart, and the kernel
                           unmaps the snapshot the previous open replaced
                           (about 0.2 s of one core at 10,000 symbols) long
                           before the next; 0 measures back-to-back opens.
    --skip-pg              accepted and ignored (older command lines; without
                           ``--pg`` nothing touches PostgreSQL).

    python bench/activation.py --sizes 1000,10000 --activations 200
    python bench/activation.py --sizes 10000 --activations 200 --no-gc-collect
    python bench/activation.py --sizes 100 --activations 20     # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import queue
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import psycopg

from preopen.calendar import get_calendar
from preopen.clock import SimulatedClock
from preopen.errors import NoSnapshotError
from preopen.model import Bars
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store
from preopen.store.synthetic import seed_store, symbol_names, synthetic_bars

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Future

    import pendulum

    from preopen.clock import Alarm, Deliver
    from preopen.model import SessionSnapshot

CAL = get_calendar("XNYS")
DSN = os.environ.get("PREOPEN_TEST_DSN", "postgresql://root@127.0.0.1:5432/test")
TRAILING = 5
INTERVAL = "1m"
FIRST_DAY = dt.date(2022, 1, 3)
LAST_DAY = dt.date(2026, 12, 31)
MODES = ("poll", "callback")
WAIT_S = 120.0  # any single wait: a prefetch at 10,000 symbols on a busy machine included


class SharedStore:
    """Every symbol's bars are read-only views of one synthetic array (load/symbols/close)."""

    url = "memory://shared"

    def __init__(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> None:
        """Build one symbol's 1m bars over ``sessions``; every symbol shares them."""
        self._names = tuple(sorted(symbols))
        self._base = synthetic_bars(["X"], CAL, sessions, INTERVAL)["X"]

    def load(self, symbols: Sequence[str], interval: str, start: dt.datetime,
             end: dt.datetime) -> dict[str, Bars]:
        """Views of the shared array, one Bars per symbol (no copy)."""
        if interval != INTERVAL:
            return {s: Bars.empty(s, interval) for s in symbols}
        part = self._base.between(start, end)
        return {s: Bars.from_arrays(s, interval, *part.columns) for s in symbols}

    def symbols(self) -> tuple[str, ...]:
        """The symbols it serves."""
        return self._names

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class OpensRun:
    """What a run of consecutive opens drives: its sessions, symbols, store and settings.

    Attributes:
        targets: the warm-up session, then one per measured open.
        names: the symbols; ``store``: their shared bars; ``settings``: the runtime's.
        start: where the clock starts (the close before the first target).
    """

    targets: Sequence[dt.date]
    names: Sequence[str]
    store: SharedStore
    settings: Settings
    start: pendulum.DateTime

    @classmethod
    def of(cls, size: int, activations: int) -> OpensRun:
        """``size`` symbols, ``activations`` measured opens after one warm-up."""
        sessions = CAL.sessions(FIRST_DAY, LAST_DAY)
        names = symbol_names(size)
        settings = Settings(store="sqlite:///unused.db", intervals=(INTERVAL,), loaders=2,
                            batch_size=500, check_interval_minutes=60, trailing_days=TRAILING,
                            symbols=tuple(names))
        return cls(sessions[TRAILING + 1:TRAILING + 2 + activations], names,
                   SharedStore(names, sessions[:TRAILING + 2 + activations]), settings,
                   CAL.close_at(sessions[TRAILING]))


class StampedClock(SimulatedClock):
    """A SimulatedClock that notes when it is moved and when it hands each tick over."""

    def __init__(self, start: dt.datetime) -> None:
        """Start at ``start``; wait at most WAIT_S for each acknowledgement."""
        super().__init__(start, settle_timeout=WAIT_S)
        self.delivered: tuple[pendulum.DateTime, float] | None = None
        self.moved = 0.0

    def advance_to(self, instant: dt.datetime, *, max_ticks: int = 100_000) -> int:
        """Note ``perf_counter`` just before the clock moves, then move it."""
        self.moved = time.perf_counter()
        return super().advance_to(instant, max_ticks=max_ticks)

    def alarm(self, deliver: Deliver, *, name: str = "alarm") -> Alarm:
        """The runtime's alarm, with ``perf_counter`` read just before each delivery."""
        def stamped(now: pendulum.DateTime, ack: Future[None] | None) -> None:
            self.delivered = (now, time.perf_counter())
            deliver(now, ack)

        return super().alarm(stamped, name=name)


class Host:
    """A host that keeps only the current snapshot and reads one close of each new session."""

    def __init__(self, runtime: Runtime, symbol: str, poll_sleep_s: float | None) -> None:
        """Attach to ``runtime``; ``poll_sleep_s`` None polls in a tight loop."""
        self.runtime = runtime
        self.symbol = symbol
        self.poll_sleep_s = poll_sleep_s
        self.current: SessionSnapshot | None = None
        self.reads: queue.Queue[tuple[dt.date, float] | BaseException] = queue.Queue()
        self.spinning = threading.Event()
        self._targets: queue.Queue[dt.date | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def _read(self, snapshot: SessionSnapshot) -> None:
        float(snapshot.bars(self.symbol, INTERVAL).close[-1])
        read_at = time.perf_counter()
        self.current = snapshot  # the previous one is let go of here, after the timed read
        self.reads.put((snapshot.session, read_at))

    # --- callback mode ---------------------------------------------------------

    def on_activated(self, snapshot: SessionSnapshot) -> None:
        """Read at once, in the SessionDataActor's thread."""
        self._read(snapshot)

    # --- poll mode -------------------------------------------------------------

    def start_polling(self) -> None:
        """Start the host thread; it polls only between :meth:`arm` and its read."""
        self._thread = threading.Thread(target=self._poll, name="host-poller", daemon=True)
        self._thread.start()

    def arm(self, session: dt.date) -> None:
        """Poll until ``session`` is served; returns once the thread is polling."""
        self.spinning.clear()
        self._targets.put(session)
        if not self.spinning.wait(WAIT_S):
            msg = "the host thread did not start polling"
            raise RuntimeError(msg)

    def stop_polling(self) -> None:
        """End the host thread."""
        if self._thread is not None:
            self._targets.put(None)
            self._thread.join(WAIT_S)

    def _poll(self) -> None:
        snapshot_of = self.runtime.snapshot
        sleep = self.poll_sleep_s
        while (target := self._targets.get()) is not None:
            self.spinning.set()
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    snapshot = snapshot_of()
                except NoSnapshotError:
                    pass
                else:
                    if snapshot.session == target:
                        self._read(snapshot)
                        del snapshot
                        break
                    del snapshot
                if sleep is not None:
                    time.sleep(sleep)
                if time.monotonic() > deadline:
                    self.reads.put(TimeoutError(f"session {target} not served in {WAIT_S} s"))
                    break


class GcWatch:
    """Every collection the interpreter runs (gc.callbacks), and the forced ones."""

    def __init__(self, *, forced: bool) -> None:
        """Install the callback, and wrap (or disable) ``gc.collect``."""
        self.forced = forced
        self.runs: list[tuple[int, float, float]] = []  # generation, start, stop
        self.forced_calls = 0
        self.forced_s = 0.0
        self._started = 0.0
        self._real = gc.collect

    def __enter__(self) -> Self:
        """Start watching."""
        gc.callbacks.append(self._callback)
        gc.collect = self._collect  # the scheduler calls gc.collect() through the module
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching."""
        gc.collect = self._real
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.runs.append((info["generation"], self._started, time.perf_counter()))

    def _collect(self, generation: int = 2) -> int:
        self.forced_calls += 1
        if not self.forced:
            return 0
        began = time.perf_counter()
        try:
            return self._real(generation)
        finally:
            self.forced_s += time.perf_counter() - began

    def within(self, start: float, stop: float) -> list[tuple[int, float]]:
        """Generation and duration (s) of the collections that overlapped ``[start, stop]``."""
        return [(g, b - a) for g, a, b in self.runs if a < stop and b > start]


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99 (interpolated) and max of ``samples`` (seconds), in microseconds."""
    arr = np.array(samples) * 1e6
    return {"p50": round(float(np.percentile(arr, 50)), 1),
            "p99": round(float(np.percentile(arr, 99)), 1),
            "max": round(float(arr.max()), 1)}


def loadavg() -> list[float]:
    """The load average over 1, 5 and 15 minutes."""
    return [round(x, 2) for x in os.getloadavg()]


def host_seen(size: int, mode: str, activations: int, poll_sleep_s: float | None,
              gc_watch: GcWatch, *, settle_s: float = 0.0) -> dict[str, Any]:
    """Drive ``activations`` + 1 consecutive opens; time each from its tick to the host's read."""
    began = time.perf_counter()
    run = OpensRun.of(size, activations)
    targets, names, store, settings = run.targets, run.names, run.store, run.settings
    clock = StampedClock(run.start)
    host_s: list[float] = []
    swap_s: list[float] = []
    prefetch_s: list[float] = []
    gc_in_open: list[tuple[int, float]] = []
    forced_before = (gc_watch.forced_calls, gc_watch.forced_s)
    with Runtime.start(settings, clock=clock, store=store, timeout=WAIT_S) as runtime:
        host = Host(runtime, names[len(names) // 2], poll_sleep_s)
        if mode == "callback":
            runtime.on_activated(host.on_activated)
        else:
            host.start_polling()
        try:
            for i, session in enumerate(targets):
                opening = CAL.open_at(session)
                clock.advance_to(opening - dt.timedelta(milliseconds=1))  # the prefetch is done
                # Opens are a day apart in production: let the previous cycle's
                # background work end (the kernel unmapping the snapshot the last
                # open replaced: about 0.2 s of one core at 10,000 symbols).
                time.sleep(settle_s)
                gc_watch.runs.clear()
                if mode == "poll":
                    host.arm(session)
                clock.advance_to(opening)
                read = host.reads.get(timeout=WAIT_S)
                if isinstance(read, BaseException):
                    raise read
                status = runtime.status()
                tick = clock.delivered
                if (tick is None or tick[0] != opening or read[0] != session
                        or status.serving != session or status.fallbacks):
                    msg = (f"session {session} not activated at its open from the prefetch: "
                           f"tick {tick}, read {read[0]}, {status.last_error}")
                    raise RuntimeError(msg)
                if i == 0:
                    continue  # the warm-up open: it replaces no snapshot
                host_s.append(read[1] - clock.moved)
                swap_s.append(status.activation_latency_s or 0.0)
                prefetch_s.append(status.prefetch_seconds or 0.0)
                gc_in_open.extend(gc_watch.within(clock.moved, read[1]))
        finally:
            host.stop_polling()
        snapshot_mb = runtime.snapshot().nbytes / 1e6
    return {"symbols": size, "interval": INTERVAL, "sessions": TRAILING, "mode": mode,
            "activations": len(host_s), "host_us": percentiles(host_s),
            "swap_us": percentiles(swap_s),
            "gc_in_open": {"count": len(gc_in_open),
                           "max_generation": max((g for g, _ in gc_in_open), default=None),
                           "max_ms": round(max((d for _, d in gc_in_open), default=0.0) * 1e3,
                                           2)},
            "forced_gc": {"calls": gc_watch.forced_calls - forced_before[0],
                          "total_ms": round((gc_watch.forced_s - forced_before[1]) * 1e3, 1)},
            "prefetch_s_median": round(statistics.median(prefetch_s), 3),
            "snapshot_mb": round(snapshot_mb, 1),
            "wall_s": round(time.perf_counter() - began, 1), "loadavg_end": loadavg()}


def _seconds(value: float | None, what: str) -> float:
    if value is None:
        msg = f"the status has no {what}"
        raise RuntimeError(msg)
    return value


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


def _csv_of(parse: Callable[[str], Any], accepted: str) -> Callable[[str], list[Any]]:
    def convert(text: str) -> list[Any]:
        try:
            return [parse(part) for part in text.split(",")]
        except ValueError:
            msg = f"{text!r} is not accepted: {accepted}"
            raise argparse.ArgumentTypeError(msg) from None
    return convert


def _size(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(text)
    return text


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=_csv_of(_size, "symbol counts >= 1, e.g. 1000,10000"),
                        default=[1000, 10000])
    parser.add_argument("--modes", type=_csv_of(_mode, f"a list of {', '.join(MODES)}"),
                        default=list(MODES))
    parser.add_argument("--activations", type=int, default=100)
    parser.add_argument("--poll-sleep-us", type=float, default=None)
    parser.add_argument("--switch-interval-us", type=float, default=None)
    parser.add_argument("--no-gc-collect", action="store_true")
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settle-ms", type=float, default=500.0)
    # Accepted for older command lines: PostgreSQL is now measured only with --pg.
    parser.add_argument("--skip-pg", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    most = len(CAL.sessions(FIRST_DAY, LAST_DAY)) - TRAILING - 2
    if not 1 <= args.activations <= most:
        parser.error(f"--activations {args.activations} is not accepted: use 1 to {most}")
    if args.poll_sleep_us is not None and not 0 <= args.poll_sleep_us <= 1e6:
        parser.error(f"--poll-sleep-us {args.poll_sleep_us} is not accepted: use 0 to 1000000")
    if args.switch_interval_us is not None and not 1 <= args.switch_interval_us <= 1e6:
        parser.error(f"--switch-interval-us {args.switch_interval_us} is not accepted: "
                     "use 1 to 1000000")
    if not 0 <= args.settle_ms <= 60_000:
        parser.error(f"--settle-ms {args.settle_ms} is not accepted: use 0 to 60000")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats} is not accepted: use 1 or more")
    return args


def main() -> None:
    """Run the benchmark and print one JSON line."""
    args = _arguments()
    if args.switch_interval_us is not None:
        sys.setswitchinterval(args.switch_interval_us / 1e6)
    poll_sleep_s = None if args.poll_sleep_us is None else args.poll_sleep_us / 1e6
    out: dict[str, Any] = {"bench": "activation", "loadavg_start": loadavg(),
                           "switch_interval_us": round(sys.getswitchinterval() * 1e6),
                           "gc_collect": not args.no_gc_collect,
                           "poll_sleep_us": args.poll_sleep_us, "settle_ms": args.settle_ms}
    with GcWatch(forced=not args.no_gc_collect) as watch:
        out["host_seen"] = [host_seen(size, mode, args.activations, poll_sleep_s, watch,
                                     settle_s=args.settle_ms / 1e3)
                            for size in args.sizes for mode in args.modes]
    if args.pg:
        try:
            out["session_start_pg"] = session_start_pg(1000, args.repeats)
        except psycopg.OperationalError as exc:
            out["session_start_pg"] = {"skipped": f"no PostgreSQL at {DSN}: {exc}"}
    out["loadavg_end"] = loadavg()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
