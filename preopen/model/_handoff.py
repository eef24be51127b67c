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
A live bar is joined when it continues that grid (``_join.py``): :func:`check_join`
reports gaps (runs of grid stamps nobody brought), overlaps (live bars at or
before a bar already held) and bars off the grid; :func:`join_live` joins
or raises :class:`~preopen.errors.LiveGapError` /
:class:`~preopen.errors.LiveOverlapError`.

Pure: numpy and the calendar value passed in; no actor, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from preopen.model._bars import to_ns
from preopen.model._grid import session_grid
from preopen.model._intervals import parse_interval
from preopen.model._join import ns_to_datetime

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from preopen.calendar import ExchangeCalendar
    from preopen.model._snapshot import SessionSnapshot

__all__ = ["Handoff", "HandoffTable", "handoff", "handoffs"]


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
