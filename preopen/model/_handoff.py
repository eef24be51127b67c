"""The hand-off from a snapshot's history to the live feed, and joining live bars onto it.

A snapshot for session S holds the bars of the sessions *before* S. The
contract, per (symbol, interval):

- **next_ts** is the stamp of the first bar the live feed must bring: the
  open of S, for every interval. Intraday bars are stamped at their start, so
  the first live one-minute bar is ``open(S)``; daily bars are stamped at
  their session's open, so the next daily bar is S's own, stamped
  ``open(S)`` and complete only at S's close. When the calendar no longer
  has S (an ad-hoc closure announced after the snapshot was built), the
  hand-off moves to the next session the calendar has: the history before S
  is the history before that session too.
- **expected_last_ts** is the last stamp the calendar expects before
  ``next_ts``: the last bar of the previous session (its own close, so an
  early close ends the history at 12:59 for 1m bars on a 13:00 close).
- **last_ts** is the last bar the snapshot holds; the history is complete at
  its tail when ``last_ts == expected_last_ts``; otherwise ``missing`` says
  how many stamps of the calendar's grid lie between the two (a backfill
  must bring them, or the joined series has a gap).

The grid is the one validation uses (:func:`~preopen.model.session_grid`):
sessions, early closes, DST and amended closures come from the calendar
given, and so does a midday break when the calendar and its grid have one.
A live bar is joined when it continues that grid: :func:`check_join`
reports gaps (runs of grid stamps nobody brought), overlaps (live bars at or
before a bar already held) and bars off the grid; :func:`join_live` joins
or raises :class:`~preopen.errors.LiveGapError` /
:class:`~preopen.errors.LiveOverlapError`.

Pure: numpy and the calendar value passed in; no actor, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from preopen.errors import LiveGapError, LiveJoinError, LiveOverlapError
from preopen.model._bars import Bars, to_ns
from preopen.model._intervals import parse_interval
from preopen.model._validate import session_grid

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from preopen.calendar import ExchangeCalendar
    from preopen.model._snapshot import SessionSnapshot

__all__ = [
    "Gap",
    "Handoff",
    "HandoffTable",
    "JoinCheck",
    "check_join",
    "handoff",
    "handoffs",
    "join_live",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ns_to_datetime(ns: int) -> dt.datetime:
    """A UTC datetime from integer nanoseconds (truncated to microseconds)."""
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


@dataclass(frozen=True, slots=True)
class Handoff:
    """Where one symbol's history ends and its live bars must begin.

    Attributes:
        symbol: the symbol.
        interval: the interval.
        session: the session the live feed starts with (the snapshot's, or
            the next one when the calendar closed the snapshot's session).
        next_at: that session's open, in the exchange's time zone.
        next_ts: the stamp (int64 UTC ns) of the first bar the live feed
            must bring: ``next_at`` for every interval (a daily bar is
            stamped at its session's open).
        expected_last_ts: the last stamp of the calendar's grid before
            ``next_ts`` (the previous session's last bar).
        last_ts: the last bar held, or None when the history is empty.
        missing: grid stamps after ``last_ts`` and before ``next_ts``: the
            bars a backfill must bring before the live feed (None when the
            history is empty).
        beyond: bars held after ``expected_last_ts``: off the calendar's grid
            (a session closed after the fact) or overlapping the live feed.
    """

    symbol: str
    interval: str
    session: dt.date
    next_at: dt.datetime
    next_ts: int
    expected_last_ts: int
    last_ts: int | None
    missing: int | None
    beyond: int

    @property
    def complete(self) -> bool:
        """The history ends exactly at the last stamp before the hand-off."""
        return self.last_ts == self.expected_last_ts

    @property
    def last_at(self) -> dt.datetime | None:
        """``last_ts`` as a UTC datetime."""
        return None if self.last_ts is None else ns_to_datetime(self.last_ts)


@dataclass(frozen=True, slots=True, eq=False)
class HandoffTable:
    """The hand-off of every symbol at one interval, as read-only arrays.

    Row ``i`` is ``symbols[i]``. ``next_ts`` and ``expected_last_ts`` are the
    same for every symbol (they come from the calendar).

    Attributes:
        interval: the interval.
        session: the session the live feed starts with.
        next_at: its open.
        next_ts: the stamp of the first live bar (int64 UTC ns).
        expected_last_ts: the last grid stamp before ``next_ts``.
        symbols: the symbols, one a row.
        has_history: the symbol holds at least one bar.
        last_ts: its last bar (int64 UTC ns; 0 where ``has_history`` is False).
        missing: grid stamps between ``last_ts`` and ``next_ts`` that the
            history lacks (-1 where ``has_history`` is False).
        beyond: bars held after ``expected_last_ts``.
    """

    interval: str
    session: dt.date
    next_at: dt.datetime
    next_ts: int
    expected_last_ts: int
    symbols: tuple[str, ...]
    has_history: NDArray[np.bool_]
    last_ts: NDArray[np.int64]
    missing: NDArray[np.int64]
    beyond: NDArray[np.int64]

    @property
    def complete(self) -> NDArray[np.bool_]:
        """Per row: the history ends exactly at ``expected_last_ts``."""
        complete: NDArray[np.bool_] = self.has_history & (self.last_ts == self.expected_last_ts)
        return complete

    def __len__(self) -> int:
        """The number of symbols."""
        return len(self.symbols)

    def row(self, symbol: str) -> Handoff:
        """The :class:`Handoff` of one symbol of the table.

        Raises:
            KeyError: the symbol is not in the table.
        """
        try:
            i = self.symbols.index(symbol)
        except ValueError:
            raise KeyError(f"symbol {symbol!r} is not in the hand-off table") from None
        held = bool(self.has_history[i])
        return Handoff(
            symbol=symbol,
            interval=self.interval,
            session=self.session,
            next_at=self.next_at,
            next_ts=self.next_ts,
            expected_last_ts=self.expected_last_ts,
            last_ts=int(self.last_ts[i]) if held else None,
            missing=int(self.missing[i]) if held else None,
            beyond=int(self.beyond[i]),
        )


def handoff(
    snapshot: SessionSnapshot, symbol: str, interval: str, *, calendar: ExchangeCalendar
) -> Handoff:
    """The hand-off of one symbol at one interval (see the module's contract).

    Raises:
        KeyError: the snapshot holds no such symbol or interval.
        BarsError: an unknown interval.
        DateOutOfRangeError: the session is outside the calendar's range.
    """
    snapshot.bars(symbol, interval)  # the snapshot's own KeyError for an unknown key
    return handoffs(snapshot, interval, calendar=calendar, symbols=(symbol,)).row(symbol)


def handoffs(
    snapshot: SessionSnapshot,
    interval: str,
    *,
    calendar: ExchangeCalendar,
    symbols: Sequence[str] | None = None,
) -> HandoffTable:
    """The hand-off of every symbol at ``interval``, vectorised over the symbols.

    Args:
        snapshot: the snapshot whose history is handed over.
        interval: the interval.
        calendar: the exchange calendar (amendments included).
        symbols: the rows (default: every symbol of the snapshot); a symbol
            the snapshot does not hold at ``interval`` has no history.

    Raises:
        BarsError: an unknown interval.
        DateOutOfRangeError: the session is outside the calendar's range.
    """
    parse_interval(interval)
    names = tuple(snapshot.symbols if symbols is None else symbols)
    session = snapshot.session
    if not calendar.is_session(session):
        session = calendar.next_session(session)
    next_at = calendar.open_at(session)
    next_ts = to_ns(next_at)
    previous = calendar.previous_session(session)
    expected_last = int(session_grid(calendar, [previous], interval).stamps[-1])

    has = np.zeros(len(names), dtype=bool)
    last = np.zeros(len(names), dtype=np.int64)
    held: list[NDArray[np.int64]] = []
    for i, name in enumerate(names):
        ts = snapshot.data[name, interval].ts if (name, interval) in snapshot.data else None
        if ts is not None and ts.shape[0]:
            has[i] = True
            last[i] = ts[-1]
        held.append(ts if ts is not None else np.empty(0, dtype=np.int64))

    missing = np.full(len(names), -1, dtype=np.int64)
    if has.any():
        earliest = int(last[has].min())
        start = max(calendar.local_date(ns_to_datetime(earliest)), calendar.first_session)
        days = calendar.sessions(start, previous)
        stamps = session_grid(calendar, days, interval).stamps if days else np.empty(0, np.int64)
        # The grid ends before next_ts: what lies after a symbol's last bar is missing.
        after = stamps.shape[0] - np.searchsorted(stamps, last, side="right")
        missing[has] = after[has]
    beyond = np.zeros(len(names), dtype=np.int64)
    for row in np.flatnonzero(has & (last > expected_last)).tolist():
        ts = held[row]
        beyond[row] = ts.shape[0] - int(np.searchsorted(ts, expected_last, side="right"))
    for array in (has, last, missing, beyond):
        array.flags.writeable = False
    return HandoffTable(
        interval=interval,
        session=session,
        next_at=next_at,
        next_ts=next_ts,
        expected_last_ts=expected_last,
        symbols=names,
        has_history=has,
        last_ts=last,
        missing=missing,
        beyond=beyond,
    )


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
        from preopen.errors import BarsError  # noqa: PLC0415 - only on this misuse

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
