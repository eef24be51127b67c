"""Trading hours: open, close and an optional midday break, from a date on.

An exchange's regular hours are a list of :class:`Hours`, each in force from
its ``since`` date until the next one's (Tokyo closes at 15:00, then at 15:30
from 2024-11-05). :class:`DayHours` is what one session actually has once
its early close, if any, is applied.

An early close keeps the break only when it falls after the break's end;
an early close at or before the break's end (Hong Kong's 12:30 half days
with a 12:00-13:00 break) makes a session without a break that ends at that
close. This is how exchange_calendars models such days.
"""

from __future__ import annotations

import datetime as dt

from preopen.calendar._value import Value

__all__ = ["DayHours", "Hours"]


class Hours(Value):
    """Regular trading hours in force from ``since``.

    Attributes:
        since: the first date these hours apply (None: from the calendar's start).
        open: the local open.
        close: the local close, after the open, the same day.
        break_start: the local start of the midday break, or None.
        break_end: the local end of the midday break, or None.
    """

    __slots__ = ("break_end", "break_start", "close", "open", "since")
    _fields = ("since", "open", "close", "break_start", "break_end")

    since: dt.date | None
    open: dt.time
    close: dt.time
    break_start: dt.time | None
    break_end: dt.time | None

    def __init__(
        self,
        open: dt.time,  # noqa: A002 - the exchange's open, named as in the TOML format
        close: dt.time,
        break_start: dt.time | None = None,
        break_end: dt.time | None = None,
        since: dt.date | None = None,
    ) -> None:
        """Make and check hours; see the class attributes.

        Raises:
            ValueError: times out of order, aware, or a break with one end only.
        """
        self._set(
            since=since, open=open, close=close, break_start=break_start, break_end=break_end
        )
        self._validate()

    def _validate(self) -> None:
        where = f"hours since {self.since.isoformat()}" if self.since else "hours"
        for name in self._fields[1:]:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.time) or value.tzinfo is not None):
                msg = f"{where}: {name}={value!r} is not accepted: a local datetime.time"
                raise ValueError(msg)
        if not self.open < self.close:
            msg = f"{where}: open={self.open} is not before close={self.close}"
            raise ValueError(msg)
        if (self.break_start is None) != (self.break_end is None):
            msg = f"{where}: break_start and break_end are given together or not at all"
            raise ValueError(msg)
        if self.break_start is not None and self.break_end is not None and not (
            self.open < self.break_start < self.break_end < self.close
        ):
            msg = (
                f"{where}: break {self.break_start}-{self.break_end} is not accepted: "
                f"open={self.open} < break_start < break_end < close={self.close}"
            )
            raise ValueError(msg)

    @property
    def has_break(self) -> bool:
        """Whether these hours have a midday break."""
        return self.break_start is not None

    def on_day(self, early_close: dt.time | None) -> DayHours:
        """The hours of a session under these regular hours and an early close.

        Args:
            early_close: the session's early close, or None for a regular day.
        """
        if early_close is None:
            return DayHours(self.open, self.close, self.break_start, self.break_end)
        if self.break_end is not None and early_close > self.break_end:
            return DayHours(self.open, early_close, self.break_start, self.break_end)
        return DayHours(self.open, early_close, None, None)


class DayHours(Value):
    """The local hours of one session.

    Attributes:
        open: the open.
        close: the close (an early close where there is one).
        break_start: the start of the midday break, or None.
        break_end: its end, or None.
    """

    __slots__ = ("break_end", "break_start", "close", "open")
    _fields = ("open", "close", "break_start", "break_end")

    open: dt.time
    close: dt.time
    break_start: dt.time | None
    break_end: dt.time | None

    def __init__(
        self,
        open: dt.time,  # noqa: A002 - as in Hours
        close: dt.time,
        break_start: dt.time | None,
        break_end: dt.time | None,
    ) -> None:
        """Hold one session's hours; see the class attributes."""
        self._set(open=open, close=close, break_start=break_start, break_end=break_end)

    def spans(self) -> tuple[tuple[dt.time, dt.time], ...]:
        """The local spans of trading: one, or two around the break."""
        if self.break_start is None or self.break_end is None:
            return ((self.open, self.close),)
        return ((self.open, self.break_start), (self.break_end, self.close))
