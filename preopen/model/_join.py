"""Joining live bars onto a history: no gap, no overlap, nothing off the calendar's grid.

The history is a snapshot's bars (see :mod:`preopen.model._handoff` for where
it ends and where the live feed must start) or the result of an earlier
join. :func:`check_join` anchors on the history's last stamp and classifies
each live stamp against the calendar's grid (the one validation uses,
:func:`~preopen.model.session_grid`); :func:`join_live` joins, or raises
:class:`~preopen.errors.LiveOverlapError`, :class:`~preopen.errors.LiveJoinError`
(off the grid) or :class:`~preopen.errors.LiveGapError`.

Pure: numpy and the calendar value passed in; no actor, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from preopen.errors import BarsError, LiveGapError, LiveJoinError, LiveOverlapError
from preopen.model._bars import Bars, to_ns
from preopen.model._grid import session_grid
from preopen.model._intervals import parse_interval

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from preopen.calendar import ExchangeCalendar

__all__ = ["Gap", "JoinCheck", "check_join", "join_live", "ns_to_datetime"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ns_to_datetime(ns: int) -> dt.datetime:
    """A UTC datetime from integer nanoseconds (truncated to microseconds)."""
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)



@dataclass(frozen=True, slots=True)
class Gap:
    """A run of grid stamps that neither the history nor the live bars hold.

    Attributes:
        first_ts: the first missing stamp (int64 UTC ns).
        last_ts: the last missing stamp.
        bars: how many stamps are missing.
    """

    first_ts: int
    last_ts: int
    bars: int

    def __str__(self) -> str:
        """``N bars from FIRST to LAST`` (UTC)."""
        return (f"{self.bars} bars from {ns_to_datetime(self.first_ts).isoformat()} "
                f"to {ns_to_datetime(self.last_ts).isoformat()}")


@dataclass(frozen=True, slots=True)
class JoinCheck:
    """What joining live bars onto a history would give.

    Attributes:
        interval: the interval.
        overlap: live bars at or before the history's last bar, or not after
            the live bar before them (each is a bar already held).
        first_overlap_ts: the first such stamp, if any.
        off_grid: live bars that are on no stamp of the calendar's grid
            (outside a session, inside a break, or misaligned).
        gaps: the runs of missing stamps, oldest first.
    """

    interval: str
    overlap: int
    first_overlap_ts: int | None
    off_grid: int
    gaps: tuple[Gap, ...]

    @property
    def missing(self) -> int:
        """Missing stamps over every gap."""
        return sum(gap.bars for gap in self.gaps)

    @property
    def ok(self) -> bool:
        """No gap, no overlap, nothing off the grid: the join is seamless."""
        return not self.overlap and not self.off_grid and not self.gaps

    def __str__(self) -> str:
        """The findings in words."""
        if self.ok:
            return "seamless"
        parts = []
        if self.overlap:
            first = ns_to_datetime(self.first_overlap_ts or 0).isoformat()
            parts.append(f"{self.overlap} live bars overlap bars already held (first {first})")
        if self.off_grid:
            parts.append(f"{self.off_grid} live bars off the calendar's {self.interval} grid")
        if self.gaps:
            runs = "1 gap" if len(self.gaps) == 1 else f"{len(self.gaps)} gaps"
            parts.append(f"{runs}, {self.missing} bars missing (first: {self.gaps[0]})")
        return "; ".join(parts)


def check_join(
    history_ts: ArrayLike,
    live_ts: ArrayLike,
    *,
    interval: str,
    calendar: ExchangeCalendar,
    next_ts: int | dt.datetime | None = None,
) -> JoinCheck:
    """Check that live stamps continue a history's stamps on the calendar's grid.

    Args:
        history_ts: the history's stamps (int64 UTC ns, ascending); only its
            last one matters.
        live_ts: the live bars' stamps, in the order received.
        interval: the interval.
        calendar: the exchange calendar.
        next_ts: the hand-off's ``next_ts``: where the live bars must start
            when the history is empty (without it, an empty history starts
            at the first live bar).

    Raises:
        BarsError: an unknown interval.
    """
    parse_interval(interval)
    history = np.asarray(history_ts, dtype=np.int64)
    live = np.asarray(live_ts, dtype=np.int64)
    anchor = int(history[-1]) if history.shape[0] else None
    if not live.shape[0]:
        return JoinCheck(interval, 0, None, 0, ())
    # Overlap: at or before the last bar held, or not after the bar before it.
    floor = np.maximum.accumulate(live)
    repeated = np.zeros(live.shape[0], dtype=bool)
    repeated[1:] = live[1:] <= floor[:-1]
    if anchor is not None:
        repeated |= live <= anchor
    fresh = live[~repeated]
    first_overlap = int(live[np.argmax(repeated)]) if repeated.any() else None
    if anchor is not None:
        low, inclusive = anchor, False
    elif next_ts is not None:
        low, inclusive = to_ns(next_ts), True
    else:
        low, inclusive = int(live.min()), True
    high = int(live.max())
    grid = _grid(calendar, interval, low, high)
    start = np.searchsorted(grid, low, side="left" if inclusive else "right")
    stamps = grid[start : np.searchsorted(grid, high, side="right")]
    position = np.searchsorted(stamps, fresh)
    clipped = np.minimum(position, max(stamps.shape[0] - 1, 0))
    on_grid = (position < stamps.shape[0]) & (stamps[clipped] == fresh) if stamps.shape[0] \
        else np.zeros(fresh.shape[0], dtype=bool)
    present = np.zeros(stamps.shape[0], dtype=bool)
    present[position[on_grid]] = True
    return JoinCheck(
        interval=interval,
        overlap=int(np.count_nonzero(repeated)),
        first_overlap_ts=first_overlap,
        off_grid=int(np.count_nonzero(~on_grid)),
        gaps=_gaps(stamps, present),
    )


def join_live(
    history: Bars,
    live: Bars,
    *,
    calendar: ExchangeCalendar,
    next_ts: int | dt.datetime | None = None,
    allow_gaps: bool = False,
) -> Bars:
    """Append live bars to a history: one Bars with no gap and no overlap.

    Args:
        history: the bars held (a snapshot's, or the result of an earlier join).
        live: the live bars to append (same symbol and interval).
        calendar: the exchange calendar.
        next_ts: the hand-off's ``next_ts`` (needed only when ``history`` is
            empty; see :func:`check_join`).
        allow_gaps: join even when stamps are missing (the gaps are still
            reported by :func:`check_join`).

    Returns:
        The joined Bars (a new array: history then live).

    Raises:
        LiveOverlapError: a live bar repeats a bar already held.
        LiveJoinError: a live bar is off the calendar's grid.
        LiveGapError: stamps are missing between the history and the live
            bars, or between live bars (unless ``allow_gaps``).
        BarsError: the symbol or interval differ.
    """
    if (live.symbol, live.interval) != (history.symbol, history.interval):
        raise BarsError(f"live bars of {live.symbol!r} {live.interval} are not accepted onto "
                        f"the history of {history.symbol!r} {history.interval}")
    check = check_join(history.ts, live.ts, interval=history.interval, calendar=calendar,
                       next_ts=next_ts)
    where = f"{history.symbol} {history.interval}"
    if check.overlap:
        raise LiveOverlapError(where, check)
    if check.off_grid:
        raise LiveJoinError(where, check)
    if check.gaps and not allow_gaps:
        raise LiveGapError(where, check)
    return Bars.concat(history.symbol, history.interval, [history, live])


#: Recent grids: (id(calendar), interval, first, last) -> (calendar, stamps). A
#: host checking one live bar a minute asks for the same grid all day; building
#: it costs ~0.1 ms, a look-up ~1 us. Keyed by identity (hashing a calendar's
#: spec costs ~0.3 ms) and holding the calendar, so that its id is not reused
#: while the entry lives. Bounded by clearing; a race at worst recomputes.
_GRIDS: dict[tuple[int, str, dt.date, dt.date], tuple[ExchangeCalendar, NDArray[np.int64]]] = {}
_GRIDS_MAX = 64


def _grid(calendar: ExchangeCalendar, interval: str, low: int, high: int) -> NDArray[np.int64]:
    """The calendar's grid over the sessions whose local dates span ``low..high``."""
    first = max(calendar.local_date(ns_to_datetime(low)), calendar.first_session)
    last = min(calendar.local_date(ns_to_datetime(high)), calendar.last_session)
    key = (id(calendar), interval, first, last)
    cached = _GRIDS.get(key)
    if cached is not None and cached[0] is calendar:
        return cached[1]
    days = calendar.sessions(first, last) if first <= last else ()
    stamps = session_grid(calendar, days, interval).stamps if days else np.empty(0, np.int64)
    stamps.flags.writeable = False
    if len(_GRIDS) >= _GRIDS_MAX:
        _GRIDS.clear()
    _GRIDS[key] = (calendar, stamps)
    return stamps


def _gaps(stamps: NDArray[np.int64], present: NDArray[np.bool_]) -> tuple[Gap, ...]:
    """The runs of consecutive grid stamps not present."""
    missing = ~present
    if not missing.any():
        return ()
    edges = np.diff(np.concatenate(([0], missing.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return tuple(Gap(int(stamps[a]), int(stamps[b]), int(b - a + 1))
                 for a, b in zip(starts, ends, strict=True))
