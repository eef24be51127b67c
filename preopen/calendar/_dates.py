"""Reading the dates and times a caller gives the calendar.

Everything a caller hands the calendar goes through here, so that a wrong
type is a :class:`~preopen.errors.CalendarError` naming the value and what is
accepted, never a raw TypeError or AttributeError from deeper down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from preopen.errors import CalendarError

__all__ = ["amendment_values", "as_date"]


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
