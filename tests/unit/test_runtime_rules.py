"""House rules that the code must keep: no locks, no wall clock outside clock.py."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "preopen"

LOCKS = re.compile(
    r"threading\s*\.\s*(Lock|RLock|Condition|Semaphore|BoundedSemaphore)\b"
    r"|from\s+threading\s+import\s+[^\n]*\b(Lock|RLock|Condition|Semaphore|BoundedSemaphore)\b"
)
WALL_CLOCK = re.compile(
    r"\b(datetime|dt)\s*\.\s*now\s*\(|\bpendulum\s*\.\s*now\s*\(|\btime\s*\.\s*time\s*\("
    r"|\bdate\s*\.\s*today\s*\(|\butcnow\s*\("
)


def sources():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    return files


def test_the_patterns_catch_what_they_are_meant_to():
    assert LOCKS.search("x = threading.Lock()")
    assert LOCKS.search("from threading import Event, RLock")
    assert not LOCKS.search("threading.Event()")
    assert WALL_CLOCK.search("dt.datetime.now(tz)")
    assert WALL_CLOCK.search("pendulum.now('UTC')")
    assert WALL_CLOCK.search("time.time()")
    assert not WALL_CLOCK.search("time.perf_counter()")


def test_no_lock_anywhere_in_preopen():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
                 for path in sources()
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if LOCKS.search(line)]
    assert offenders == []


def test_market_time_is_read_only_in_clock_py():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
                 for path in sources() if path.name != "clock.py" or path.parent != PACKAGE
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if WALL_CLOCK.search(line)]
    assert offenders == []
