"""The expected bar stamps of some sessions at one interval: what validation checks against.

For each interval the calendar gives a grid of expected stamps: intraday
bars start at ``start + k * interval`` for every k with the start before the
end of each trading span of the session (the last bar of a 6.5 h session at
1h is the half-hour 15:30 bar), and daily bars are stamped at the session's
open. A session with a midday break has two spans, the open to the break's
start and the break's end to the close, so the grid stops for the break and
restarts at its end (Tokyo at 1h: 09:00, 10:00, 11:00, then 12:30, 13:30,
14:30).

Pure: numpy and the calendar's public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from preopen.model._bars import to_ns
from preopen.model._intervals import DAILY, parse_interval

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from preopen.calendar import ExchangeCalendar

__all__ = ["SessionGrid", "expected_count", "session_grid"]


class SessionGrid(NamedTuple):
    """The expected bar stamps of some sessions at one interval.

    Attributes:
        stamps: expected ts (int64 UTC ns), ascending.
        session_of: for each stamp, the index of its session in ``opens``.
        opens: each trading span's start (int64 UTC ns), ascending: a
            session's open, and the end of its break when it has one.
        closes: each trading span's end (int64 UTC ns): the start of the
            break, or the session's close.
    """

    stamps: NDArray[np.int64]
    session_of: NDArray[np.intp]
    opens: NDArray[np.int64]
    closes: NDArray[np.int64]


def session_grid(
    calendar: ExchangeCalendar, sessions: Sequence[dt.date], interval: str
) -> SessionGrid:
    """Return the expected stamps of ``sessions`` at ``interval``.

    Raises:
        BarsError: an unknown interval.
        NotASessionError: a date that is not a session of the calendar.
    """
    step = parse_interval(interval)
    days = sorted(set(sessions))
    spans = [(i, a, b) for i, day in enumerate(days) for a, b in calendar.trading_spans(day)]
    opens = np.array([to_ns(a) for _, a, _ in spans], dtype=np.int64)
    closes = np.array([to_ns(b) for _, _, b in spans], dtype=np.int64)
    span_session = np.array([i for i, _, _ in spans], dtype=np.intp)
    if interval == DAILY:
        first = np.ones(len(spans), dtype=bool)
        first[1:] = span_session[1:] != span_session[:-1]
        return SessionGrid(opens[first], np.arange(len(days), dtype=np.intp), opens, closes)
    # ceil((end - start) / step) per span: a trailing partial bar is still a bar.
    counts = -((opens - closes) // step)
    span_of = np.repeat(np.arange(len(spans), dtype=np.intp), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    stamps = opens[span_of] + (np.arange(span_of.shape[0]) - starts) * step
    return SessionGrid(stamps.astype(np.int64), span_session[span_of], opens, closes)


def expected_count(grid: SessionGrid) -> int:
    """Bars expected per symbol on a grid: the one place the expected count comes from."""
    return int(grid.stamps.shape[0])
