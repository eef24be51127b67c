"""The New York Stock Exchange (XNYS), 1990 through 2099.

Regular hours 09:30-16:00 America/New_York; pre-market from 04:00,
after-hours until 20:00. Sources: the NYSE's published holiday and
early-close schedules, and its record of closings since 1990.

Holidays (observed when the rule says so):

- New Year's Day, January 1; a Sunday moves to Monday, a Saturday is not
  observed (the Friday before, December 31, is a session).
- Martin Luther King Jr. Day, 3rd Monday of January, from 1998.
- Washington's Birthday (Presidents' Day), 3rd Monday of February.
- Good Friday, two days before Easter Sunday.
- Memorial Day, last Monday of May.
- Juneteenth, June 19, from 2022; nearest weekday.
- Independence Day, July 4; nearest weekday.
- Labor Day, 1st Monday of September.
- Thanksgiving Day, 4th Thursday of November.
- Christmas Day, December 25; nearest weekday.

Early closes: 13:00 from 1993; before 1993 they were at 14:00.

- July 3 when it is a Monday, Tuesday or Thursday, from 1995; a Wednesday
  July 3 (July 4 on a Thursday) from 2013; before 2013 the Friday July 5
  after a Thursday July 4 closed early instead (1995-2012).
- The day after Thanksgiving, from 1992 (14:00 in 1992).
- December 24 on a Monday to Thursday (14:00 until 1992). A December 24 on a
  Friday is the observed Christmas holiday, so there is no early close when
  Christmas falls on a weekend, nor before a weekend July 4.

Ad-hoc closures since 1990: 1994-04-27 (President Nixon's funeral),
2001-09-11..14 (the September 11 attacks), 2004-06-11 (President Reagan),
2007-01-02 (President Ford), 2012-10-29..30 (Hurricane Sandy), 2018-12-05
(President G. H. W. Bush), 2025-01-09 (President Carter). Ad-hoc 13:00
closes: 1997-12-26, 1999-12-31, 2003-12-26. There is no December 31 rule,
and a holiday always wins over an early-close rule.
"""

from __future__ import annotations

import datetime as dt

from preopen.calendar._rules import HolidayRule, Observance, RuleKind
from preopen.calendar._spec import CalendarSpec, EarlyCloseRule

__all__ = ["XNYS"]

_MON, _TUE, _WED, _THU, _FRI = range(5)
_FIXED = RuleKind.FIXED
_NTH = RuleKind.NTH_WEEKDAY
_NEAREST = Observance.NEAREST_WEEKDAY
_ONE_PM = dt.time(13)
_TWO_PM = dt.time(14)

_HOLIDAYS = (
    HolidayRule(
        "New Year's Day", _FIXED, month=1, day=1, observance=Observance.SUNDAY_TO_MONDAY
    ),
    HolidayRule(
        "Martin Luther King Jr. Day", _NTH, month=1, weekday=_MON, nth=3, first_year=1998
    ),
    HolidayRule("Washington's Birthday", _NTH, month=2, weekday=_MON, nth=3),
    HolidayRule("Good Friday", RuleKind.EASTER, easter_offset=-2),
    HolidayRule("Memorial Day", _NTH, month=5, weekday=_MON, nth=-1),
    HolidayRule("Juneteenth", _FIXED, month=6, day=19, observance=_NEAREST, first_year=2022),
    HolidayRule("Independence Day", _FIXED, month=7, day=4, observance=_NEAREST),
    HolidayRule("Labor Day", _NTH, month=9, weekday=_MON, nth=1),
    HolidayRule("Thanksgiving Day", _NTH, month=11, weekday=_THU, nth=4),
    HolidayRule("Christmas Day", _FIXED, month=12, day=25, observance=_NEAREST),
)


def _day_after_thanksgiving(first_year: int, last_year: int | None) -> HolidayRule:
    return HolidayRule(
        "Day after Thanksgiving", _NTH, month=11, weekday=_THU, nth=4, offset_days=1,
        first_year=first_year, last_year=last_year,
    )


def _christmas_eve(first_year: int | None, last_year: int | None) -> HolidayRule:
    return HolidayRule(
        "Christmas Eve", _FIXED, month=12, day=24, weekdays=frozenset({_MON, _TUE, _WED, _THU}),
        first_year=first_year, last_year=last_year,
    )


_EARLY_CLOSE_RULES = (
    EarlyCloseRule(_day_after_thanksgiving(1992, 1992), _TWO_PM),
    EarlyCloseRule(_christmas_eve(None, 1992), _TWO_PM),
    EarlyCloseRule(_day_after_thanksgiving(1993, None), _ONE_PM),
    EarlyCloseRule(_christmas_eve(1993, None), _ONE_PM),
    EarlyCloseRule(
        HolidayRule(
            "Day before Independence Day", _FIXED, month=7, day=3,
            weekdays=frozenset({_MON, _TUE, _THU}), first_year=1995,
        ),
        _ONE_PM,
    ),
    EarlyCloseRule(
        HolidayRule(
            "Wednesday before Independence Day", _FIXED, month=7, day=3,
            weekdays=frozenset({_WED}), first_year=2013,
        ),
        _ONE_PM,
    ),
    EarlyCloseRule(
        HolidayRule(
            "Friday after Independence Day", _FIXED, month=7, day=5,
            weekdays=frozenset({_FRI}), first_year=1995, last_year=2012,
        ),
        _ONE_PM,
    ),
)

_CLOSURES = frozenset(
    dt.date.fromisoformat(d)
    for d in (
        "1994-04-27",  # national day of mourning, President Nixon
        "2001-09-11",  # September 11 attacks
        "2001-09-12",
        "2001-09-13",
        "2001-09-14",
        "2004-06-11",  # national day of mourning, President Reagan
        "2007-01-02",  # national day of mourning, President Ford
        "2012-10-29",  # Hurricane Sandy
        "2012-10-30",
        "2018-12-05",  # national day of mourning, President G. H. W. Bush
        "2025-01-09",  # national day of mourning, President Carter
    )
)

_EARLY_CLOSES = {
    dt.date(1997, 12, 26): _ONE_PM,  # Friday after Christmas
    dt.date(1999, 12, 31): _ONE_PM,  # New Year's Eve 1999
    dt.date(2003, 12, 26): _ONE_PM,  # Friday after Christmas
}

XNYS = CalendarSpec(
    name="XNYS",
    timezone="America/New_York",
    open=dt.time(9, 30),
    close=dt.time(16),
    premarket_open=dt.time(4),
    afterhours_close=dt.time(20),
    weekend=frozenset({5, 6}),
    first_year=1990,
    last_year=2099,
    holidays=_HOLIDAYS,
    closures=_CLOSURES,
    early_close_rules=_EARLY_CLOSE_RULES,
    early_closes=_EARLY_CLOSES,
)
"""The built-in NYSE calendar description."""
