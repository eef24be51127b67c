"""Holiday and early-close rules: the date a rule gives in a year.

A rule names a nominal date (a fixed month and day, the nth weekday of a
month, or an offset from Easter Sunday), optionally moved by a number of
days, kept only when the nominal date falls on chosen weekdays, and then
moved off the weekend by an observance. Rules are pure values: the same
rule and year always give the same date.
"""

from __future__ import annotations

import datetime as dt
import enum

from preopen.calendar._value import Value

__all__ = [
    "WEEKDAY_NAMES",
    "HolidayRule",
    "Observance",
    "RuleKind",
    "easter_sunday",
    "nth_weekday",
]

# Monday is 0, as in datetime.date.weekday().
WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

_ONE_DAY = dt.timedelta(days=1)
_SATURDAY = 5
_SUNDAY = 6
_LAST_DAY = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Observance(enum.StrEnum):
    """How a rule's date moves when it falls on a weekend day.

    ``NEXT_WEEKDAY`` and ``PREVIOUS_WEEKDAY`` use the calendar's own weekend
    days; ``SUNDAY_TO_MONDAY`` and ``NEAREST_WEEKDAY`` are the United States
    federal rules and look at Saturday and Sunday only.
    """

    NONE = "none"
    """The date stays where it falls (a weekend date is simply no session)."""
    SUNDAY_TO_MONDAY = "sunday_to_monday"
    """Sunday moves to Monday; Saturday is not observed (NYSE New Year's Day)."""
    NEAREST_WEEKDAY = "nearest_weekday"
    """Saturday moves to Friday, Sunday to Monday (NYSE Independence Day)."""
    NEXT_WEEKDAY = "next_weekday"
    """A weekend date, or a date an earlier rule already took, moves forward
    to the next day that is neither (United Kingdom substitute days)."""
    PREVIOUS_WEEKDAY = "previous_weekday"
    """A weekend date moves back to the closest earlier day that is not."""


class RuleKind(enum.StrEnum):
    """Where a rule's nominal date comes from."""

    FIXED = "fixed"
    NTH_WEEKDAY = "nth_weekday"
    EASTER = "easter"


def easter_sunday(year: int) -> dt.date:
    """The Gregorian (western) Easter Sunday of ``year``.

    The anonymous Gregorian algorithm (Meeus/Jones/Butcher), exact for every
    year of the Gregorian calendar.

    Args:
        year: a year >= 1583.

    Returns:
        The date of Easter Sunday.
    """
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):  # noqa: PLR2004 - February
        return 28
    return _LAST_DAY[month - 1]


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The ``nth`` given weekday of a month; negative ``nth`` counts from the end.

    Args:
        year: the year.
        month: 1..12.
        weekday: 0 (Monday) .. 6 (Sunday).
        nth: 1..5 from the start of the month, -1..-5 from its end.

    Returns:
        The date.

    Raises:
        ValueError: the month has no such weekday (a 5th Monday that is not there).
    """
    if nth > 0:
        first = dt.date(year, month, 1)
        day = 1 + (weekday - first.weekday()) % 7 + 7 * (nth - 1)
    else:
        last_day = _days_in_month(year, month)
        last = dt.date(year, month, last_day)
        day = last_day - (last.weekday() - weekday) % 7 + 7 * (nth + 1)
    if not 1 <= day <= _days_in_month(year, month):
        msg = f"{year}-{month:02d} has no weekday {weekday} number {nth}"
        raise ValueError(msg)
    return dt.date(year, month, day)


class HolidayRule(Value):
    """A yearly date: a holiday, or the date of a regular early close.

    Attributes:
        name: what the day is called ("Independence Day").
        kind: where the nominal date comes from.
        month: the month (FIXED, NTH_WEEKDAY).
        day: the day of the month (FIXED).
        weekday: 0 (Monday) .. 6 (Sunday) (NTH_WEEKDAY).
        nth: which one, 1..5 or -1..-5 from the end (NTH_WEEKDAY).
        easter_offset: days after Easter Sunday, -2 for Good Friday (EASTER).
        offset_days: days added to the nominal date (the day after Thanksgiving is
            the 4th Thursday of November plus 1).
        weekdays: when set, the rule applies only in years where the shifted date
            falls on one of these weekdays (December 24 on Monday..Thursday).
        observance: how a date that falls on a weekend day moves.
        first_year: the first year the rule applies, if limited.
        last_year: the last year the rule applies, if limited.
        except_years: years the rule does not apply in (a holiday moved once).
    """

    __slots__ = (
        "day",
        "easter_offset",
        "except_years",
        "first_year",
        "kind",
        "last_year",
        "month",
        "name",
        "nth",
        "observance",
        "offset_days",
        "weekday",
        "weekdays",
    )
    _fields = (
        "name", "kind", "month", "day", "weekday", "nth", "easter_offset", "offset_days",
        "weekdays", "observance", "first_year", "last_year", "except_years",
    )

    name: str
    kind: RuleKind
    month: int
    day: int
    weekday: int
    nth: int
    easter_offset: int
    offset_days: int
    weekdays: frozenset[int] | None
    observance: Observance
    first_year: int | None
    last_year: int | None
    except_years: frozenset[int]

    def __init__(
        self,
        name: str,
        kind: RuleKind,
        *,
        month: int = 0,
        day: int = 0,
        weekday: int = 0,
        nth: int = 0,
        easter_offset: int = 0,
        offset_days: int = 0,
        weekdays: frozenset[int] | None = None,
        observance: Observance = Observance.NONE,
        first_year: int | None = None,
        last_year: int | None = None,
        except_years: frozenset[int] = frozenset(),
    ) -> None:
        """Make a rule; see the class attributes.

        Raises:
            ValueError: a field out of its range, named with its value.
        """
        self._set(
            name=name, kind=RuleKind(kind), month=month, day=day, weekday=weekday, nth=nth,
            easter_offset=easter_offset, offset_days=offset_days,
            weekdays=None if weekdays is None else frozenset(weekdays),
            observance=Observance(observance), first_year=first_year, last_year=last_year,
            except_years=frozenset(except_years),
        )
        self._validate()

    def _validate(self) -> None:
        if self.kind is not RuleKind.EASTER and not 1 <= self.month <= 12:  # noqa: PLR2004 - months
            msg = f"rule {self.name!r}: month={self.month!r} is not accepted: 1..12"
            raise ValueError(msg)
        if self.kind is RuleKind.FIXED and not 1 <= self.day <= _LAST_DAY[self.month - 1]:
            msg = (
                f"rule {self.name!r}: day={self.day!r} is not accepted: "
                f"a day of month {self.month}"
            )
            raise ValueError(msg)
        if self.kind is RuleKind.NTH_WEEKDAY:
            if not 0 <= self.weekday <= 6:  # noqa: PLR2004 - weekdays
                msg = f"rule {self.name!r}: weekday={self.weekday!r} is not accepted: 0..6"
                raise ValueError(msg)
            if self.nth == 0 or not -5 <= self.nth <= 5:  # noqa: PLR2004 - weeks in a month
                msg = f"rule {self.name!r}: nth={self.nth!r} is not accepted: 1..5 or -1..-5"
                raise ValueError(msg)
        if self.weekdays is not None and not all(0 <= w <= 6 for w in self.weekdays):  # noqa: PLR2004 - weekdays
            msg = f"rule {self.name!r}: weekdays={sorted(self.weekdays)!r} is not accepted: 0..6"
            raise ValueError(msg)
        if (
            self.first_year is not None
            and self.last_year is not None
            and self.first_year > self.last_year
        ):
            msg = (
                f"rule {self.name!r}: first_year={self.first_year} is after "
                f"last_year={self.last_year}"
            )
            raise ValueError(msg)

    def applies_in(self, year: int) -> bool:
        """Whether the rule gives a date in ``year`` (its years, not its weekdays)."""
        if self.first_year is not None and year < self.first_year:
            return False
        if self.last_year is not None and year > self.last_year:
            return False
        return year not in self.except_years

    def nominal(self, year: int) -> dt.date | None:
        """The rule's date in ``year`` before any observance, or None.

        None when the rule does not apply in that year, when the date does
        not exist (February 29 of a common year), or when it falls outside
        ``weekdays``.
        """
        if not self.applies_in(year):
            return None
        if self.kind is RuleKind.FIXED:
            if self.day > _days_in_month(year, self.month):
                return None
            base = dt.date(year, self.month, self.day)
        elif self.kind is RuleKind.NTH_WEEKDAY:
            try:
                base = nth_weekday(year, self.month, self.weekday, self.nth)
            except ValueError:
                return None
        else:
            base = easter_sunday(year) + dt.timedelta(days=self.easter_offset)
        if self.offset_days:
            base += dt.timedelta(days=self.offset_days)
        if self.weekdays is not None and base.weekday() not in self.weekdays:
            return None
        return base

    def observed(
        self, year: int, weekend: frozenset[int], taken: frozenset[dt.date] | set[dt.date]
    ) -> dt.date | None:
        """The date the rule is observed on in ``year`` (it may fall in a neighbouring year).

        Args:
            year: the year whose rule is applied.
            weekend: the calendar's weekend days (0 = Monday).
            taken: dates earlier rules already gave; only NEXT_WEEKDAY looks at them.

        Returns:
            The observed date, or None when the rule gives no date that year.
        """
        day = self.nominal(year)
        if day is None:
            return None
        weekday = day.weekday()
        step = dt.timedelta(0)
        match self.observance:
            case Observance.SUNDAY_TO_MONDAY if weekday == _SUNDAY:
                step = _ONE_DAY
            case Observance.NEAREST_WEEKDAY if weekday == _SATURDAY:
                step = -_ONE_DAY
            case Observance.NEAREST_WEEKDAY if weekday == _SUNDAY:
                step = _ONE_DAY
            case Observance.NEXT_WEEKDAY:
                # Terminates: a calendar keeps at least one weekday that is not
                # a weekend day, and ``taken`` is finite.
                while day.weekday() in weekend or day in taken:
                    day += _ONE_DAY
            case Observance.PREVIOUS_WEEKDAY:
                while day.weekday() in weekend:
                    day -= _ONE_DAY
        return day + step
