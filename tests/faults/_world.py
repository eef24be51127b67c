"""The fault suite's world: the published NYSE schedule, synthetic bars, a runtime starter.

Answer data: 2024-11-25..12-03 on XNYS, regular hours 09:30-16:00
America/New_York, Thanksgiving (Thu 11-28) closed, Fri 11-29 closing at
13:00; a 60-minute window starts each prefetch at 08:30.
"""

from __future__ import annotations

import datetime as dt
import threading

from support.week import WEEK, XNYS

from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store
from preopen.store.synthetic import symbol_names, synthetic_bars

WAIT = 30.0  # seconds any single wait may take before the test fails

# Answer data: every session from 2024-11-18 to 2024-12-03 (bars are written for them).
SESSIONS = (
    dt.date(2024, 11, 18), dt.date(2024, 11, 19), dt.date(2024, 11, 20), dt.date(2024, 11, 21),
    dt.date(2024, 11, 22), *WEEK,
)


def seed_sqlite(path, count: int, intervals=("5m",), seed: int = 3) -> tuple[str, dict]:
    """Write ``count`` synthetic symbols over SESSIONS into a SQLite file.

    Returns:
        (url, {interval: {symbol: Bars}}): the bars written, the answer data.
    """
    url = f"sqlite:///{path}"
    names = symbol_names(count)
    written = {}
    store = open_store(url, create=True)
    try:
        for interval in intervals:
            written[interval] = synthetic_bars(names, XNYS, SESSIONS, interval, seed=seed)
            store.write(interval, written[interval])
    finally:
        store.close()
    return url, written


def settings(url: str, **overrides: object) -> Settings:
    """Small, fast settings: 2 loaders, 2 trailing sessions of 5-minute bars."""
    values: dict[str, object] = {
        "store": url, "loaders": 2, "batch_size": 4, "max_attempts": 3,
        "trailing_days": 2, "intervals": ("5m",), "restart_intensity": 1000,
        "restart_period_s": 60.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Started:
    """Starts runtimes and stops them all at the end, checking that no thread is left."""

    def __init__(self) -> None:
        self.before = set(threading.enumerate())
        self.runtimes: list[Runtime] = []

    def __call__(self, *args: object, **kwargs: object) -> Runtime:
        runtime = Runtime.start(*args, **kwargs)  # type: ignore[arg-type]
        self.runtimes.append(runtime)
        return runtime

    def stop_all(self, *, check_threads: bool = True) -> None:
        for runtime in self.runtimes:
            runtime.stop(WAIT)
        if not check_threads:  # the caller checks after closing its own store
            return
        left = set(threading.enumerate()) - self.before
        assert not left, f"threads left running: {sorted(t.name for t in left)}"
