"""validate: check bars against the calendar's sessions, vectorised.

For each interval the calendar gives a grid of expected stamps: intraday
bars start at ``start + k * interval`` for every k with the start before the
end of each trading span of the session (the last bar of a 6.5 h session at
1h is the half-hour 15:30 bar), and daily bars are stamped at the session's
open. A session with a midday break has two spans, the open to the break's
start and the break's end to the close, so the grid stops for the break and
restarts at its end (Tokyo at 1h: 09:00, 10:00, 11:00, then 12:30, 13:30,
14:30); a bar stamped inside the break is outside the session's trading. Every check is a numpy pass
over the bars (searchsorted against the grid), no Python work per bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from preopen.model._bars import Bars, to_ns
from preopen.model._intervals import DAILY, parse_interval
from preopen.model._report import SymbolReport, ValidationReport

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    from preopen.calendar import ExchangeCalendar

__all__ = ["SessionGrid", "check_bars", "session_grid", "validate"]


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


def validate(
    bars_by_key: Mapping[tuple[str, str], Bars],
    calendar: ExchangeCalendar,
    sessions: Sequence[dt.date],
    intervals: Sequence[str],
) -> ValidationReport:
    """Check bars against the calendar: completeness and defects.

    Every symbol that appears in ``bars_by_key`` is checked at every interval
    of ``intervals``; a (symbol, interval) with no entry, or empty Bars, is
    reported as empty, never raised.

    Args:
        bars_by_key: (symbol, interval) -> Bars.
        calendar: the exchange calendar.
        sessions: the sessions the bars should cover.
        intervals: the intervals to check.

    Returns:
        The report, one entry per (symbol, interval).
    """
    grids = {interval: session_grid(calendar, sessions, interval) for interval in intervals}
    symbols = sorted({symbol for symbol, _ in bars_by_key})
    entries: dict[tuple[str, str], SymbolReport] = {}
    for symbol in symbols:
        for interval, grid in grids.items():
            bars = bars_by_key.get((symbol, interval))
            entries[symbol, interval] = check_bars(symbol, interval, bars, grid)
    return ValidationReport(entries)


def check_bars(symbol: str, interval: str, bars: Bars | None, grid: SessionGrid) -> SymbolReport:
    """Check one symbol's bars against a grid (see :func:`validate`)."""
    expected = int(grid.stamps.shape[0])
    if bars is None or not len(bars):
        gaps = _count_gaps(np.zeros(expected, dtype=bool), _runs_break_at(grid, interval))
        repairs = bars.repairs if bars is not None else None
        return SymbolReport(
            symbol,
            interval,
            expected=expected,
            found=0,
            gaps=gaps,
            duplicates=repairs.duplicates_dropped if repairs else 0,
            unsorted=repairs.was_unsorted if repairs else False,
            empty=True,
        )
    ts = bars.ts
    position = np.searchsorted(grid.stamps, ts)
    clipped = np.minimum(position, max(expected - 1, 0))
    on_grid = (
        (position < expected) & (grid.stamps[clipped] == ts)
        if expected
        else np.zeros(ts.shape[0], dtype=bool)
    )
    present = np.zeros(expected, dtype=bool)
    present[position[on_grid]] = True
    session = np.searchsorted(grid.opens, ts, side="right") - 1
    inside = (session >= 0) & (ts < grid.closes[np.maximum(session, 0)])
    prices = np.stack([bars.open, bars.high, bars.low, bars.close])
    with np.errstate(invalid="ignore"):
        bad_prices = ~(np.isfinite(prices) & (prices > 0)).all(axis=0)
        high_below_low = bars.high < bars.low
        bad_volume = ~(np.isfinite(bars.volume) & (bars.volume >= 0))
    return SymbolReport(
        symbol,
        interval,
        expected=expected,
        found=int(np.count_nonzero(present)),
        gaps=_count_gaps(present, _runs_break_at(grid, interval)),
        duplicates=bars.repairs.duplicates_dropped,
        unsorted=bars.repairs.was_unsorted,
        bad_prices=int(np.count_nonzero(bad_prices)),
        high_below_low=int(np.count_nonzero(high_below_low)),
        negative_volume=int(np.count_nonzero(bad_volume)),
        outside_session=int(np.count_nonzero(~inside)),
        misaligned=int(np.count_nonzero(inside & ~on_grid)),
        empty=False,
    )


def _runs_break_at(grid: SessionGrid, interval: str) -> NDArray[np.intp]:
    """What a run of missing stamps cannot span: intraday, a session boundary.

    Daily bars are one a session, so missing days in a row are one gap.
    """
    if interval == DAILY:
        return np.zeros_like(grid.session_of)
    return grid.session_of


def _count_gaps(present: NDArray[np.bool_], session_of: NDArray[np.intp]) -> int:
    """Runs of missing stamps; a run starts at a new session or after a present stamp."""
    if not present.shape[0]:
        return 0
    missing = ~present
    run_start = missing.copy()
    same_session = session_of[1:] == session_of[:-1]
    run_start[1:] &= ~(missing[:-1] & same_session)
    return int(np.count_nonzero(run_start))
