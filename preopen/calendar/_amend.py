"""Amendments: closures and early closes announced after a calendar's release.

:func:`amended_spec` checks them against the calendar they amend and
returns the spec of the amended calendar; ``ExchangeCalendar.amended``
builds the calendar from it, leaving the original unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from preopen.calendar._dates import amendment_values, as_date
from preopen.errors import CalendarError, NotASessionError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    from preopen.calendar._calendar import ExchangeCalendar
    from preopen.calendar._spec import CalendarSpec

__all__ = ["amended_spec"]


def amended_spec(
    calendar: ExchangeCalendar,
    closures: Iterable[dt.date] | dt.date | str,
    early_closes: Mapping[dt.date, dt.time],
) -> CalendarSpec | None:
    """The spec of ``calendar`` with the closures and early closes; None when there are none.

    Raises:
        DateOutOfRangeError: a date outside the range.
        NotASessionError: a date that is not a session of ``calendar``.
        CalendarError: a time not strictly between open and close, or a date
            both closed and closing early.
    """
    closure_days, early_times = amendment_values(closures, early_closes)
    closed = frozenset(_session(calendar, d) for d in closure_days)
    early: dict[dt.date, dt.time] = {}
    for d, t in early_times.items():
        day = _session(calendar, d)
        regular = calendar.spec.hours_on(day)
        if not regular.open < t < regular.close:
            msg = (
                f"early close {t!r} on {day.isoformat()} is not accepted: a local time "
                f"(no time zone) strictly between {regular.open} and {regular.close}"
            )
            raise CalendarError(msg)
        if day in closed:
            msg = f"{day.isoformat()} is not accepted both as a closure and as an early close"
            raise CalendarError(msg)
        early[day] = t
    if not closed and not early:
        return None
    spec = calendar.spec
    return spec.replace(
        closures=spec.closures | closed,
        # A later closure wins over an early close announced before it.
        early_closes={
            d: t for d, t in {**spec.early_closes, **early}.items() if d not in closed
        },
    )


def _session(calendar: ExchangeCalendar, value: object) -> dt.date:
    """``value`` as a date that is a session of ``calendar``."""
    day = as_date(value, "date")
    if not calendar.is_session(day):  # raises DateOutOfRangeError out of range
        raise NotASessionError(day, calendar.name)
    return day
