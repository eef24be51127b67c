"""Exchange calendars: sessions, opens, closes and the timing rules.

Pure and immutable: no actors, no I/O beyond reading a calendar file, and
no numpy, pykka or database driver, so that importing it stays cheap.

>>> import datetime as dt
>>> from preopen.calendar import get_calendar
>>> xnys = get_calendar("XNYS")
>>> xnys.next_session(dt.date(2025, 7, 3))
datetime.date(2025, 7, 7)
"""

from __future__ import annotations

from preopen.calendar._calendar import ExchangeCalendar
from preopen.calendar._registry import available_calendars, get_calendar
from preopen.calendar._rules import HolidayRule, Observance, RuleKind, easter_sunday, nth_weekday
from preopen.calendar._spec import CalendarSpec, EarlyCloseRule

__all__ = [
    "CalendarSpec",
    "EarlyCloseRule",
    "ExchangeCalendar",
    "HolidayRule",
    "Observance",
    "RuleKind",
    "available_calendars",
    "easter_sunday",
    "get_calendar",
    "nth_weekday",
]
