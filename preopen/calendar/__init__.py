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
from preopen.calendar._explicit import spec_from_sessions, spec_to_toml
from preopen.calendar._hours import DayHours, Hours
from preopen.calendar._registry import available_calendars, get_calendar
from preopen.calendar._rules import HolidayRule, Observance, RuleKind, easter_sunday, nth_weekday
from preopen.calendar._spec import CalendarSpec, EarlyCloseRule
from preopen.calendar._toml import load_spec
from preopen.calendar._xcals import xcals_spec as exchange_calendars_spec

__all__ = [
    "CalendarSpec",
    "DayHours",
    "EarlyCloseRule",
    "ExchangeCalendar",
    "HolidayRule",
    "Hours",
    "Observance",
    "RuleKind",
    "available_calendars",
    "easter_sunday",
    "exchange_calendars_spec",
    "get_calendar",
    "load_spec",
    "nth_weekday",
    "spec_from_sessions",
    "spec_to_toml",
]
