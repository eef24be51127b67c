"""The answers of one year: its non-sessions and early closes, computed once per year.

:func:`compute_year` applies a :class:`~preopen.calendar.CalendarSpec`'s rules
and ad-hoc dates to one year; :class:`SessionYears` keeps what it computed,
so that an :class:`~preopen.calendar.ExchangeCalendar` asks each year once.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.calendar._value import Value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from preopen.calendar._spec import CalendarSpec

__all__ = ["SessionYears", "YearInfo", "compute_year"]


class YearInfo(Value):
    """The non-sessions and early closes of one year.

    Attributes:
        holidays: weekday dates that are not sessions, sorted.
        holiday_set: the same, for membership tests.
        early_closes: session dates with an early close, and the close time.
    """

    __slots__ = ("early_closes", "holiday_set", "holidays")
    _fields = ("holidays", "holiday_set", "early_closes")

    holidays: tuple[dt.date, ...]
    holiday_set: frozenset[dt.date]
    early_closes: Mapping[dt.date, dt.time]

    def __init__(
        self, holidays: tuple[dt.date, ...], early_closes: Mapping[dt.date, dt.time]
    ) -> None:
        """Hold one year's answers; see the class attributes."""
        self._set(
            holidays=holidays, holiday_set=frozenset(holidays),
            early_closes=MappingProxyType(dict(early_closes)),
        )


def _rule_dates(spec: CalendarSpec, year: int) -> set[dt.date]:
    """Observed holiday dates that fall in ``year``.

    A rule of the neighbouring years can land in ``year`` (January 1 on a
    Saturday observed on the Friday before), so their rules are applied too.
    The years are applied in order with one set of taken dates, so that a
    substitute day pushed across New Year (December 31 on a Saturday moved
    to Monday January 2) is seen by the next year's rules, which then move on
    to the following free day.
    """
    taken: set[dt.date] = set()
    for rule_year in (year - 2, year - 1, year, year + 1):
        for rule in spec.holidays:
            day = rule.observed(rule_year, spec.weekend, taken)
            if day is not None:
                taken.add(day)
    return {d for d in taken if d.year == year}


def compute_year(spec: CalendarSpec, year: int) -> YearInfo:
    """The holidays and early closes of ``year`` under ``spec``.

    A holiday (by rule or ad hoc) always wins over an early close, and an
    ad-hoc early close's time wins over a rule's.
    """
    closed = {d for d in _rule_dates(spec, year) if d.weekday() not in spec.weekend}
    closed.update(d for d in spec.closures if d.year == year and d.weekday() not in spec.weekend)
    early: dict[dt.date, dt.time] = {}
    for rule_year in (year - 1, year, year + 1):
        for early_rule in spec.early_close_rules:
            day = early_rule.rule.observed(rule_year, spec.weekend, frozenset())
            if day is not None and day.year == year:
                early[day] = early_rule.close
    early.update((d, t) for d, t in spec.early_closes.items() if d.year == year)
    sessions_early = {
        d: t for d, t in sorted(early.items())
        if d not in closed and d.weekday() not in spec.weekend
    }
    return YearInfo(tuple(sorted(closed)), sessions_early)


class SessionYears:
    """Which days of a spec are sessions, its years computed on first use.

    No lock is needed: the value for a year is a pure function of the
    immutable spec, so two threads that compute the same year store equal
    values, and a dict item assignment is atomic.
    """

    __slots__ = ("_spec", "_years")

    def __init__(self, spec: CalendarSpec) -> None:
        """No year computed yet."""
        self._spec = spec
        self._years: dict[int, YearInfo] = {}

    def year(self, year: int) -> YearInfo:
        """The non-sessions and early closes of ``year``."""
        info = self._years.get(year)
        if info is None:
            info = compute_year(self._spec, year)
            self._years[year] = info
        return info

    def is_session(self, day: dt.date) -> bool:
        """Whether ``day`` (within the spec's years) is a session."""
        if day.weekday() in self._spec.weekend:
            return False
        return day not in self.year(day.year).holiday_set

    def scan(self, start: dt.date, step: int, stop: dt.date) -> dt.date | None:
        """The first session from ``start`` (inclusive) towards ``stop`` (inclusive)."""
        delta = dt.timedelta(days=step)
        day = start
        while (day <= stop) if step > 0 else (day >= stop):
            if self.is_session(day):
                return day
            day += delta
        return None
