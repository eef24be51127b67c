"""Reading the dates and times a caller gives the calendar.

Everything a caller hands the calendar goes through here, so that a wrong
type is a :class:`~preopen.errors.CalendarError` naming the value and what is
accepted, never a raw TypeError or AttributeError from deeper down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from preopen.errors import CalendarError, DateOutOfRangeError

__all__ = ["amendment_values", "as_date", "check_year", "no_session_beyond"]


def as_date(value: object, what: str) -> dt.date:
    """``value`` as a plain date; a datetime or anything else is refused."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        msg = f"{what}={value!r} is not accepted: a datetime.date"
        raise CalendarError(msg)
    return dt.date(value.year, value.month, value.day)


def _closure_dates(closures: object) -> list[dt.date]:
    """The dates of ``amended(closures=...)``: one date, one ISO string, or several."""
    if isinstance(closures, str | dt.date):
        closures = (closures,)
    if isinstance(closures, bytes) or not hasattr(closures, "__iter__"):
        msg = f"closures={closures!r} is not accepted: a date, or an iterable of dates"
        raise CalendarError(msg)
    return [as_date(_from_iso(d), "closure") for d in closures]


def _from_iso(value: object) -> object:
    """An ISO ``YYYY-MM-DD`` string as a date; anything else unchanged."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            msg = f"date={value!r} is not accepted: a datetime.date or 'YYYY-MM-DD'"
            raise CalendarError(msg) from None
    return value


def amendment_values(
    closures: object, early_closes: object
) -> tuple[list[dt.date], dict[dt.date, dt.time]]:
    """The closures and early closes given to ``amended()``, type-checked.

    Args:
        closures: one date or ISO string, or an iterable of them.
        early_closes: a mapping of date (or ISO string) to a naive time.

    Returns:
        The closure dates, and the early closes by date.

    Raises:
        CalendarError: a value of the wrong type, naming it.
    """
    days = _closure_dates(closures)
    if not isinstance(early_closes, Mapping):
        msg = (
            f"early_closes={early_closes!r} is not accepted: a mapping of "
            "datetime.date to datetime.time"
        )
        raise CalendarError(msg)
    early: dict[dt.date, dt.time] = {}
    for d, t in early_closes.items():
        day = as_date(_from_iso(d), "early close")
        if not isinstance(t, dt.time) or t.tzinfo is not None:
            msg = (
                f"early close {t!r} on {day.isoformat()} is not accepted: a local "
                "datetime.time (no time zone)"
            )
            raise CalendarError(msg)
        early[day] = t
    return days, early


def check_year(year: object, years: tuple[int, int], first: dt.date, last: dt.date) -> int:
    """``year`` when it is an int within ``years``; otherwise a CalendarError.

    Args:
        year: the year asked about.
        years: the calendar's first and last year.
        first: its first session (for the message).
        last: its last session (for the message).

    Raises:
        CalendarError: not an int.
        DateOutOfRangeError: outside ``years`` (year 0 and 99999999999 included).
    """
    if isinstance(year, bool) or not isinstance(year, int):
        msg = f"year={year!r} is not accepted: an int"
        raise CalendarError(msg)
    if not years[0] <= year <= years[1]:
        msg = (
            f"year {year} is outside the calendar's range {first.isoformat()}.."
            f"{last.isoformat()}: a year in {years[0]}..{years[1]}"
        )
        # A date is built only for a year a date can have.
        day = dt.date(year, 1, 1) if dt.MINYEAR <= year <= dt.MAXYEAR else first
        raise DateOutOfRangeError(day, first, last, message=msg)
    return year


def no_session_beyond(
    day: dt.date, first: dt.date, last: dt.date, horizon: dt.date, *, after: bool
) -> DateOutOfRangeError:
    """The error for a date in range whose next (``after``) or previous session is not."""
    span = f"the calendar's range {first.isoformat()}..{last.isoformat()}"
    if after:
        msg = (
            f"no session after {day.isoformat()}: the next session is past {span} "
            f"(horizon {horizon.isoformat()})"
        )
    else:
        msg = f"no session before {day.isoformat()}: the previous session is before {span}"
    return DateOutOfRangeError(day, first, last, message=msg)
