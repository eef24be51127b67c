"""The walk of one session, traced: the files of preopen from the open tick to the swap.

``docs/architecture.md`` walks one session through preopen naming each file
once; this test records, with a profile hook in every thread of the runtime,
which files of ``preopen/`` run between the clock delivering the open tick
and the SessionDataActor swapping the armed snapshot in, and checks that
they are few and in the order the walk gives, with the scheduler's part
after the swap.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from pathlib import Path

import numpy as np
from support.week import XNYS, at, grid_bars

from preopen.clock import SimulatedClock
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store

PACKAGE = Path(__file__).resolve().parents[2] / "preopen"
DAY = dt.date(2024, 11, 26)

# The walk of docs/architecture.md, from the tick to the swap.
WALK = [
    "clock.py",  # the simulated alarm delivers the open tick
    "actors/delivery.py",  # the tree's delivery finds a snapshot armed: tells the SessionDataActor
    "actors/child.py",  # the address numbers the message; the child unwraps it
    "actors/session_data.py",  # the swap of the armed snapshot
]
# After the swap, the scheduler's part, off the host's path: the tick, the
# planner's Activate of the same snapshot, the SessionDataActor's confirmation.
AFTER = [
    ("actors/scheduler.py", "handle"),
    ("planning/planner.py", "tick"),
    ("actors/session_data.py", "_activate"),
]


def test_from_the_open_tick_to_the_swap_the_run_passes_through_the_walk_s_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'bars.db'}"
    store = open_store(url, create=True)
    for interval in ("1m", "1d"):
        store.write(interval, {s: grid_bars(s, interval, dt.date(2024, 11, 11), DAY,
                                            close=lambda n: np.full(n, 10.0))
                               for s in ("AAA", "BBB")})
    calls: list[tuple[str, str]] = []
    recording = threading.Event()
    root = str(PACKAGE)

    def profile(frame, event, _arg):
        if event == "call" and recording.is_set():
            path = frame.f_code.co_filename
            if path.startswith(root):
                calls.append((Path(path).relative_to(PACKAGE).as_posix(), frame.f_code.co_name))

    clock = SimulatedClock(at(DAY, "08:00"))
    threading.setprofile(profile)  # every thread the runtime starts from now on
    try:
        settings = Settings(store=url, symbols=("AAA", "BBB"), loaders=1)
        with Runtime.start(settings, clock=clock, store=store) as runtime:
            clock.advance_to(at(DAY, "09:29"))
            assert runtime.status().progress.done == 4  # prefetched: the open is the fast path
            sys.setprofile(profile)  # this thread delivers the tick
            recording.set()
            clock.advance_to(at(DAY, "09:30"))
            recording.clear()
            sys.setprofile(None)
            assert runtime.snapshot().session == DAY
    finally:
        threading.setprofile(None)
        store.close()
    swap = calls.index(("actors/session_data.py", "_open"))
    files: list[str] = []
    for path, _ in calls[: swap + 1]:
        if path not in files:
            files.append(path)
    assert files == WALK
    after = [call for call in calls[swap:] if call in AFTER]
    assert list(dict.fromkeys(after)) == AFTER
    assert XNYS.open_at(DAY) == at(DAY, "09:30")
