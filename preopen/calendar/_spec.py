"""What defines an exchange calendar.

A :class:`CalendarSpec` is the whole description of an exchange's calendar
as a value: time zone, regular hours, weekend, supported years, holiday
rules, ad-hoc closures, early-close rules and ad-hoc early closes. The
built-in XNYS and every TOML calendar are specs; :class:`ExchangeCalendar`
answers questions about one.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.calendar._hours import Hours
from preopen.calendar._value import Value

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from preopen.calendar._rules import HolidayRule

__all__ = ["CalendarSpec", "EarlyCloseRule"]


class EarlyCloseRule(Value):
    """A regular early close: the dates a rule gives, closing at ``close``.

    Attributes:
        rule: the dates (the day after Thanksgiving, December 24 Mon-Thu, ...).
        close: the local close time on those dates.
    """

    __slots__ = ("close", "rule")
    _fields = ("rule", "close")

    rule: HolidayRule
    close: dt.time

    def __init__(self, rule: HolidayRule, close: dt.time) -> None:
        """Make the rule; see the class attributes."""
        self._set(rule=rule, close=close)


class CalendarSpec(Value):
    """The complete description of one exchange's calendar.

    Attributes:
        name: the exchange's code ("XNYS").
        timezone: the IANA zone the hours are in ("America/New_York").
        open: the regular local open time.
        close: the regular local close time (same day, after ``open``).
        premarket_open: the local start of pre-market trading (``open`` if none).
        afterhours_close: the local end of after-hours trading on a regular day
            (``close`` if none); on an early close day it ends as long after the
            early close as it regularly does after ``close``.
        weekend: the weekdays that are never sessions (0 = Monday).
        first_year: the first year the calendar answers for.
        last_year: the last year the calendar answers for.
        holidays: holiday rules, applied in order (NEXT_WEEKDAY looks at the
            dates earlier rules took).
        closures: ad-hoc closures.
        early_close_rules: regular early closes.
        early_closes: ad-hoc early closes; they override a rule's time.
        break_start: the local start of the regular midday break, or None.
        break_end: the local end of the regular midday break, or None.
        hours_changes: regular hours that replace the ones above from their
            ``since`` date on, in date order.
        first_date: the first date the calendar answers for (None: January 1
            of ``first_year``).
        horizon: the last date the calendar is sure of and answers for (None:
            December 31 of ``last_year``); planning past it is refused.
    """

    __slots__ = (
        "afterhours_close",
        "break_end",
        "break_start",
        "close",
        "closures",
        "early_close_rules",
        "early_closes",
        "first_date",
        "first_year",
        "holidays",
        "horizon",
        "hours_changes",
        "last_year",
        "name",
        "open",
        "premarket_open",
        "timezone",
        "weekend",
    )
    _fields = (
        "name", "timezone", "open", "close", "weekend", "first_year", "last_year",
        "premarket_open", "afterhours_close", "holidays", "closures", "early_close_rules",
        "early_closes", "break_start", "break_end", "hours_changes", "first_date", "horizon",
    )

    name: str
    timezone: str
    open: dt.time
    close: dt.time
    weekend: frozenset[int]
    first_year: int
    last_year: int
    premarket_open: dt.time | None
    afterhours_close: dt.time | None
    holidays: tuple[HolidayRule, ...]
    closures: frozenset[dt.date]
    early_close_rules: tuple[EarlyCloseRule, ...]
    early_closes: Mapping[dt.date, dt.time]
    break_start: dt.time | None
    break_end: dt.time | None
    hours_changes: tuple[Hours, ...]
    first_date: dt.date | None
    horizon: dt.date | None

    def __init__(
        self,
        *,
        name: str,
        timezone: str,
        open: dt.time,  # noqa: A002 - the exchange's open, named as in the TOML format
        close: dt.time,
        weekend: Iterable[int],
        first_year: int,
        last_year: int,
        premarket_open: dt.time | None = None,
        afterhours_close: dt.time | None = None,
        holidays: Iterable[HolidayRule] = (),
        closures: Iterable[dt.date] = (),
        early_close_rules: Iterable[EarlyCloseRule] = (),
        early_closes: Mapping[dt.date, dt.time] | None = None,
        break_start: dt.time | None = None,
        break_end: dt.time | None = None,
        hours_changes: Iterable[Hours] = (),
        first_date: dt.date | None = None,
        horizon: dt.date | None = None,
    ) -> None:
        """Make and check a description; see the class attributes.

        Raises:
            ValueError: naming the field and its value.
        """
        self._set(
            name=name, timezone=timezone, open=open, close=close, weekend=frozenset(weekend),
            first_year=first_year, last_year=last_year, premarket_open=premarket_open,
            afterhours_close=afterhours_close, holidays=tuple(holidays),
            closures=frozenset(closures), early_close_rules=tuple(early_close_rules),
            # A read-only copy, so that the spec stays a value however it was built.
            early_closes=MappingProxyType(dict(early_closes or {})),
            break_start=break_start, break_end=break_end,
            hours_changes=tuple(sorted(hours_changes, key=_since)),
            first_date=first_date, horizon=horizon,
        )
        self._validate()

    # -- derived ----------------------------------------------------------

    @property
    def base_hours(self) -> Hours:
        """The regular hours before the first change."""
        return Hours(self.open, self.close, self.break_start, self.break_end)

    @property
    def regular_hours(self) -> tuple[Hours, ...]:
        """Every set of regular hours, the base first, then each change by date."""
        return (self.base_hours, *self.hours_changes)

    def hours_on(self, day: dt.date) -> Hours:
        """The regular hours in force on ``day``."""
        found = None
        for change in self.hours_changes:
            if change.since is not None and change.since <= day:
                found = change
        return found if found is not None else self.base_hours

    @property
    def shortest_night(self) -> dt.timedelta:
        """The shortest wall-clock gap from a regular close to the next day's regular open.

        Over every set of regular hours, and from each to the next.
        """
        day = dt.date(2000, 1, 3)
        hours = self.regular_hours
        pairs = [(h, h) for h in hours] + list(itertools.pairwise(hours))
        return min(
            dt.datetime.combine(day + dt.timedelta(days=1), after.open)
            - dt.datetime.combine(day, before.close)
            for before, after in pairs
        )

    @property
    def range_start(self) -> dt.date:
        """The first date answered for."""
        return self.first_date or dt.date(self.first_year, 1, 1)

    @property
    def range_end(self) -> dt.date:
        """The last date answered for: the horizon."""
        return self.horizon or dt.date(self.last_year, 12, 31)

    # -- checks -----------------------------------------------------------

    def _fail(self, text: str) -> ValueError:
        return ValueError(f"calendar {self.name}: {text}")

    def _validate(self) -> None:  # noqa: C901 - one check after another
        try:
            self.base_hours  # noqa: B018 - built for its checks
        except ValueError as exc:
            raise self._fail(str(exc)) from None
        for change in self.hours_changes:
            if not isinstance(change, Hours) or change.since is None:
                msg = f"hours change {change!r} is not accepted: Hours with a since date"
                raise self._fail(msg)
        if self.premarket_open is not None and self.premarket_open > self.open:
            msg = (
                f"calendar {self.name}: premarket_open={self.premarket_open} "
                f"is after open={self.open}"
            )
            raise ValueError(msg)
        if self.afterhours_close is not None and self.afterhours_close < self.close:
            msg = (
                f"calendar {self.name}: afterhours_close={self.afterhours_close} "
                f"is before close={self.close}"
            )
            raise ValueError(msg)
        if len(self.weekend) >= 7 or not all(0 <= w <= 6 for w in self.weekend):  # noqa: PLR2004 - weekdays
            msg = (
                f"calendar {self.name}: weekend={sorted(self.weekend)} is not accepted: "
                "weekday numbers 0..6, at least one weekday left"
            )
            raise ValueError(msg)
        if not 1583 <= self.first_year <= self.last_year <= 9998:  # noqa: PLR2004 - Gregorian years
            msg = (
                f"calendar {self.name}: years {self.first_year}..{self.last_year} "
                "are not accepted: first_year <= last_year within 1583..9998"
            )
            raise ValueError(msg)
        self._validate_range()
        self._validate_dates()
        for early in self.early_close_rules:
            for hours in self.regular_hours:
                if not hours.open < early.close < hours.close:
                    msg = (
                        f"early close {early.close} of rule {early.rule.name!r} is not "
                        f"between open={hours.open} and close={hours.close}"
                    )
                    raise self._fail(msg)

    def _validate_range(self) -> None:
        start, end = self.range_start, self.range_end
        if not (self.first_year == start.year and end.year == self.last_year and start <= end):
            msg = (
                f"range {start.isoformat()}..{end.isoformat()} is not accepted: first_date "
                f"and horizon within {self.first_year}..{self.last_year}, in order"
            )
            raise self._fail(msg)
        for change in self.hours_changes:
            assert change.since is not None  # noqa: S101 - checked in _validate
            if not start < change.since <= end:
                msg = (
                    f"hours since {change.since.isoformat()} is not accepted: a date after "
                    f"{start.isoformat()} and up to {end.isoformat()}"
                )
                raise self._fail(msg)

    def _validate_dates(self) -> None:
        start, end = self.range_start, self.range_end
        for what, days in (("closure", self.closures), ("early close", self.early_closes)):
            for day in sorted(days):
                if not start <= day <= end:
                    msg = (
                        f"{what} {day.isoformat()} is not accepted: a date within "
                        f"{start.isoformat()}..{end.isoformat()}"
                    )
                    raise self._fail(msg)
                if day.weekday() in self.weekend:
                    msg = (
                        f"{what} {day.isoformat()} is not accepted: it is a weekend day "
                        f"({day.strftime('%A')}), never a session"
                    )
                    raise self._fail(msg)
        both = sorted(self.closures & set(self.early_closes))
        if both:
            msg = f"{both[0].isoformat()} is not accepted both as a closure and as an early close"
            raise self._fail(msg)
        for day, close in self.early_closes.items():
            hours = self.hours_on(day)
            if not isinstance(close, dt.time) or close.tzinfo is not None or not (
                hours.open < close < hours.close
            ):
                msg = (
                    f"early close {close} on {day.isoformat()} is not accepted: a local "
                    f"time strictly between open={hours.open} and close={hours.close}"
                )
                raise self._fail(msg)


def _since(hours: Hours) -> dt.date:
    return hours.since or dt.date.min
