"""drop_closed_days: a snapshot without the bars of days closed by an ad-hoc closure.

A store may hold bars for a day that the calendar, once amended, says was
not a session (an ad-hoc closure announced late, or bars written before the
closure was known). Validation counts such bars as ``outside_session``
(``report.ok`` is False) but they do not make a report incomplete, so they
would stay in the snapshot while ``report.complete`` is True, and a host
computing over the history would take a closed day for a session. The
prefetch freezes through this function: bars on a date of the loaded range
that the calendar closes by an ad-hoc closure (``spec.closures``: what
``amended(closures=...)`` adds, and the closures a calendar lists by date)
are dropped and the snapshot is validated again, so the snapshot agrees
with the calendar it was frozen under.

Other bars outside the sessions (a pre-market bar at 09:00, a bar stamped
on a weekend or a regular holiday) are not touched: they are a defect of
the data, kept and flagged (``outside_session``, ``report.ok`` False) as
before; only a closure says that a whole day of data is no longer wanted.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from preopen.model._bars import to_ns
from preopen.model._report import COUNT_FIELDS
from preopen.model._snapshot import SessionSnapshot
from preopen.model._table import BarTable
from preopen.model._validate import validate_tables

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from preopen.calendar import ExchangeCalendar

__all__ = ["closed_day_spans", "drop_closed_days"]

_OUTSIDE = COUNT_FIELDS.index("outside_session")


def closed_day_spans(
    calendar: ExchangeCalendar, first: dt.date, last: dt.date
) -> NDArray[np.int64]:
    """The ad-hoc closures from ``first`` to ``last`` (not sessions), as UTC ns bounds.

    Returns:
        int64 ``[start0, end0, start1, end1, ...]``: each such day from its
        local midnight to the next, ascending (an instant ``t`` is on a closed
        day when ``searchsorted(bounds, t, side="right")`` is odd).
    """
    zone = ZoneInfo(calendar.timezone)
    bounds: list[int] = []
    for day in sorted(d for d in calendar.spec.closures if first <= d <= last):
        if calendar.is_session(day):
            continue
        after = day + dt.timedelta(days=1)
        bounds.append(to_ns(dt.datetime(day.year, day.month, day.day, tzinfo=zone)))
        bounds.append(to_ns(dt.datetime(after.year, after.month, after.day, tzinfo=zone)))
    return np.asarray(bounds, dtype=np.int64)


def drop_closed_days(
    snapshot: SessionSnapshot,
    calendar: ExchangeCalendar,
    trailing: Sequence[dt.date],
    intervals: Sequence[str],
) -> tuple[SessionSnapshot, int]:
    """Drop the bars on ad-hoc closures within ``trailing``'s range (see the module).

    Costs nothing when validation found no bar outside a session (the usual
    case): the snapshot is returned as is.

    Args:
        snapshot: the snapshot as assembled.
        calendar: the calendar it is frozen under (amendments included).
        trailing: the sessions its bars cover, oldest first.
        intervals: the intervals to validate again.

    Returns:
        The snapshot (a new one, validated again, when bars were dropped)
        and how many bars were dropped.
    """
    counts = snapshot.report.counts
    if not trailing or counts.size == 0 or not bool(np.any(counts[:, :, _OUTSIDE] > 0)):
        return snapshot, 0
    bounds = closed_day_spans(calendar, trailing[0], trailing[-1])
    if bounds.size == 0:
        return snapshot, 0
    tables: dict[str, BarTable] = {}
    dropped = 0
    for interval, table in snapshot.tables.items():
        closed = (np.searchsorted(bounds, table.ts, side="right") & 1).astype(bool)
        count = int(np.count_nonzero(closed))
        if count == 0:
            tables[interval] = table
            continue
        dropped += count
        keep = ~closed
        kept_before = np.zeros(keep.shape[0] + 1, np.int64)
        np.cumsum(keep, out=kept_before[1:])
        columns = (table.ts[keep], table.open[keep], table.high[keep], table.low[keep],
                   table.close[keep], table.volume[keep])
        tables[interval] = BarTable(
            interval, table.symbols, kept_before[table.offsets], columns,
            duplicates=table.duplicates, unsorted=table.unsorted, check_order=False,
        )
    if not dropped:
        return snapshot, 0
    report = validate_tables(tables, calendar, trailing, intervals, snapshot.symbols)
    rebuilt = SessionSnapshot(snapshot.session, snapshot.open, snapshot.close, report=report,
                              built_at=snapshot.built_at, tables=tables)
    return rebuilt, dropped
