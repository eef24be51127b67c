"""The simulated week the runtime tests run through: answer data, and bars on it.

Answer data, from the published NYSE schedule (not from preopen): the
sessions of 2024-11-25..12-03 on XNYS, regular hours 09:30-16:00
America/New_York, Thanksgiving (Thu 11-28) closed, Fri 11-29 closing at
13:00; with the default 60-minute window each prefetch starts at 08:30.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pendulum

from preopen.calendar import get_calendar
from preopen.model import Bars

NY = "America/New_York"
XNYS = get_calendar("XNYS")

D = dt.date
# Each session of the week with its open and close (local time).
WEEK = {
    D(2024, 11, 25): ("09:30", "16:00"),
    D(2024, 11, 26): ("09:30", "16:00"),
    D(2024, 11, 27): ("09:30", "16:00"),
    D(2024, 11, 29): ("09:30", "13:00"),
    D(2024, 12, 2): ("09:30", "16:00"),
    D(2024, 12, 3): ("09:30", "16:00"),
}
# The 5 sessions before each session of the week, oldest first (Thanksgiving skipped).
TRAILING_5 = {
    D(2024, 11, 25): (D(2024, 11, 18), D(2024, 11, 19), D(2024, 11, 20), D(2024, 11, 21),
                      D(2024, 11, 22)),
    D(2024, 11, 26): (D(2024, 11, 19), D(2024, 11, 20), D(2024, 11, 21), D(2024, 11, 22),
                      D(2024, 11, 25)),
    D(2024, 11, 27): (D(2024, 11, 20), D(2024, 11, 21), D(2024, 11, 22), D(2024, 11, 25),
                      D(2024, 11, 26)),
    D(2024, 11, 29): (D(2024, 11, 21), D(2024, 11, 22), D(2024, 11, 25), D(2024, 11, 26),
                      D(2024, 11, 27)),
    D(2024, 12, 2): (D(2024, 11, 22), D(2024, 11, 25), D(2024, 11, 26), D(2024, 11, 27),
                     D(2024, 11, 29)),
    D(2024, 12, 3): (D(2024, 11, 25), D(2024, 11, 26), D(2024, 11, 27), D(2024, 11, 29),
                     D(2024, 12, 2)),
}


def at(day: dt.date, hhmm: str) -> pendulum.DateTime:
    """``day`` at ``hhmm`` New York time."""
    hour, minute = map(int, hhmm.split(":"))
    return pendulum.datetime(day.year, day.month, day.day, hour, minute, tz=NY)


def grid_bars(
    symbol: str,
    interval: str,
    first: dt.date,
    last: dt.date,
    *,
    close: Callable[[int], np.ndarray],
    volume: Callable[[int], np.ndarray] | None = None,
) -> Bars:
    """Bars on every session from ``first`` to ``last``: 1m through each session, 1d at its open.

    ``close(n)`` gives the n closes; high and low are close +/- 1, volume 10
    unless ``volume(n)`` is given.
    """
    stamps: list[int] = []
    for day in XNYS.sessions(first, last):
        opens, closes = XNYS.open_at(day), XNYS.close_at(day)
        if interval == "1d":
            stamps.append(opens.int_timestamp * 10**9)
        else:
            n = int((closes - opens).total_seconds() // 60)
            stamps.extend(opens.int_timestamp * 10**9 + np.arange(n) * 60 * 10**9)
    ts = np.array(stamps, dtype=np.int64)
    c = close(ts.shape[0])
    v = volume(ts.shape[0]) if volume is not None else np.full(ts.shape, 10.0)
    return Bars.from_arrays(symbol, interval, ts, c, c + 1, c - 1, c, v)
