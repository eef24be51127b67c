"""ExchangeCalendar: sessions, opens and closes of one exchange.

An :class:`ExchangeCalendar` answers questions about a
:class:`~preopen.calendar._spec.CalendarSpec`. It is immutable: its answers
depend only on the spec, and :meth:`ExchangeCalendar.amended` returns a new
calendar rather than changing this one, so one instance can be shared by
every thread and actor without a lock.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

import pendulum

from preopen.calendar._amend import amended_spec
from preopen.calendar._dates import as_date, check_year, no_session_beyond
from preopen.calendar._years import SessionYears
from preopen.errors import CalendarError, DateOutOfRangeError, NotASessionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from preopen.calendar._hours import DayHours, Hours
    from preopen.calendar._spec import CalendarSpec

__all__ = ["ExchangeCalendar"]

_ONE_DAY = dt.timedelta(days=1)
_NO_EARLY_CLOSES: Mapping[dt.date, dt.time] = MappingProxyType({})


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


class ExchangeCalendar:
    """The trading calendar of one exchange.

    Dates are ``datetime.date``; instants are time-zone aware datetimes; the
    opens and closes it returns are pendulum DateTimes in the exchange's zone.
    A date outside ``first_session..last_session``'s years raises
    :class:`DateOutOfRangeError`; a non-session where a session is required
    raises :class:`NotASessionError`.
    """

    __slots__ = ("_first", "_last", "_spec", "_tz", "_years")

    _spec: CalendarSpec
    _tz: pendulum.Timezone
    _years: SessionYears
    _first: dt.date
    _last: dt.date

    def __init__(self, spec: CalendarSpec) -> None:
        """Build the calendar a spec describes.

        Args:
            spec: the description.

        Raises:
            CalendarError: the spec's time zone is unknown, or its range holds no session.
        """
        try:
            tz = pendulum.timezone(spec.timezone)
        except Exception as exc:  # pendulum raises several kinds for an unknown zone
            msg = f"timezone={spec.timezone!r} is not accepted: an IANA time zone name ({exc})"
            raise CalendarError(msg) from exc
        set_ = object.__setattr__
        set_(self, "_spec", spec)
        set_(self, "_tz", tz)
        set_(self, "_years", SessionYears(spec))  # the years' non-sessions, on first use
        range_start, range_end = spec.range_start, spec.range_end
        first = self._years.scan(range_start, 1, range_end)
        last = self._years.scan(range_end, -1, range_start)
        if first is None or last is None:
            msg = (
                f"calendar {spec.name} has no session in "
                f"{range_start.isoformat()}..{range_end.isoformat()}"
            )
            raise CalendarError(msg)
        set_(self, "_first", first)
        set_(self, "_last", last)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        """Refuse every change: a calendar is immutable."""
        msg = f"ExchangeCalendar is immutable: cannot set {name!r}"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        """The name, zone and range."""
        return (
            f"<ExchangeCalendar {self.name} {self.timezone} "
            f"{self._first.isoformat()}..{self._last.isoformat()}>"
        )

    def __eq__(self, other: object) -> bool:
        """Calendars are equal when their specs are."""
        if not isinstance(other, ExchangeCalendar):
            return NotImplemented
        return self._spec == other._spec

    def __hash__(self) -> int:
        """Hash of the spec."""
        return hash(self._spec)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by spec (the year cache is rebuilt on demand)."""
        return (ExchangeCalendar, (self._spec,))

    # -- description ------------------------------------------------------

    @property
    def spec(self) -> CalendarSpec:
        """The description this calendar follows."""
        return self._spec

    @property
    def name(self) -> str:
        """The exchange's code ("XNYS")."""
        return self._spec.name

    @property
    def timezone(self) -> str:
        """The IANA name of the exchange's time zone."""
        return self._spec.timezone

    @property
    def first_session(self) -> dt.date:
        """The first session the calendar knows."""
        return self._first

    @property
    def last_session(self) -> dt.date:
        """The last session the calendar knows."""
        return self._last

    @property
    def horizon(self) -> dt.date:
        """The last date the calendar is sure of; it answers nothing after it.

        The end of its rules (XNYS: 2099-12-31), or of its listed dates (a
        calendar exported from exchange_calendars ends where the export did).
        """
        return self._spec.range_end

    @property
    def has_breaks(self) -> bool:
        """Whether any of the regular hours has a midday break."""
        return any(hours.has_break for hours in self._spec.regular_hours)

    @property
    def shortest_break(self) -> dt.timedelta:
        """The shortest gap from a regular close to the next regular open.

        A regular close and the next day's regular open, in wall-clock time
        (XNYS: 16:00 to 09:30, 17 h 30 min), over every set of regular hours
        and the change from one to the next. This is the gap between two
        sessions, not the midday break (see :meth:`breaks`). Early closes only
        lengthen the gap. A daylight-saving change in the night between two
        sessions would shorten it by the shift; US and European zones change
        on a Sunday, which is a weekend day on those exchanges.
        """
        return self._spec.shortest_night

    # -- dates ------------------------------------------------------------

    def _check(self, value: object, what: str = "date") -> dt.date:
        day = as_date(value, what)
        if not self._spec.range_start <= day <= self._spec.range_end:
            self._out_of_range(day)
        return day

    def _out_of_range(self, day: dt.date, what: str = "") -> NoReturn:
        raise DateOutOfRangeError(day, self._first, self._last, what=what)

    def is_session(self, d: dt.date) -> bool:
        """Whether the exchange trades on ``d``."""
        return self._years.is_session(self._check(d))

    def next_session(self, d: dt.date) -> dt.date:
        """The first session strictly after ``d`` (``d`` need not be a session).

        Raises:
            DateOutOfRangeError: ``d`` is out of range, or no session follows it in range.
        """
        day = self._check(d)
        if day >= self._last:
            raise no_session_beyond(day, self._first, self._last, self.horizon, after=True)
        found = self._years.scan(day + _ONE_DAY, 1, self._last)
        assert found is not None  # noqa: S101 - _last is a session after day
        return found

    def previous_session(self, d: dt.date) -> dt.date:
        """The last session strictly before ``d`` (``d`` need not be a session).

        Raises:
            DateOutOfRangeError: ``d`` is out of range, or no session precedes it in range.
        """
        day = self._check(d)
        if day <= self._first:
            raise no_session_beyond(day, self._first, self._last, self.horizon, after=False)
        found = self._years.scan(day - _ONE_DAY, -1, self._first)
        assert found is not None  # noqa: S101 - _first is a session before day
        return found

    def sessions(self, start: dt.date, end: dt.date) -> tuple[dt.date, ...]:
        """The sessions from ``start`` to ``end``, both inclusive, oldest first.

        Empty when ``start`` is after ``end``.
        """
        first = self._check(start, "start")
        last = self._check(end, "end")
        found: list[dt.date] = []
        day = first
        while day <= last:
            if self._years.is_session(day):
                found.append(day)
            day += _ONE_DAY
        return tuple(found)

    def trailing_sessions(self, d: dt.date, n: int) -> tuple[dt.date, ...]:
        """The ``n`` sessions strictly before ``d``, oldest first.

        Raises:
            CalendarError: ``n`` is negative or not an int.
            DateOutOfRangeError: fewer than ``n`` sessions precede ``d`` in range.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            msg = f"n={n!r} is not accepted: a number of sessions >= 0"
            raise CalendarError(msg)
        day = self._check(d)
        found: list[dt.date] = []
        while len(found) < n:
            if day <= self._first:
                self._out_of_range(
                    as_date(d, "date"),
                    f"fewer than {n} sessions before it within the calendar's range",
                )
            day = self.previous_session(day)
            found.append(day)
        found.reverse()
        return tuple(found)

    def holidays(self, year: int) -> tuple[dt.date, ...]:
        """The weekday dates of ``year`` that are not sessions (rules and ad-hoc closures).

        Only dates within the calendar's range (up to its horizon) are listed.

        Raises:
            CalendarError: ``year`` is not an int.
            DateOutOfRangeError: ``year`` is outside the calendar's years.
        """
        start, end = self._spec.range_start, self._spec.range_end
        found = self._years.year(self._check_year(year)).holidays
        return tuple(d for d in found if start <= d <= end)

    def early_closes(self, year: int) -> dict[dt.date, dt.time]:
        """The sessions of ``year`` that close early, with their local close time.

        Raises:
            CalendarError: ``year`` is not an int.
            DateOutOfRangeError: ``year`` is outside the calendar's years.
        """
        start, end = self._spec.range_start, self._spec.range_end
        found = self._years.year(self._check_year(year)).early_closes
        return {d: t for d, t in found.items() if start <= d <= end}

    def _check_year(self, year: int) -> int:
        years = (self._spec.first_year, self._spec.last_year)
        return check_year(year, years, self._first, self._last)

    # -- times ------------------------------------------------------------

    def _session(self, d: dt.date) -> dt.date:
        day = self._check(d)
        if not self._years.is_session(day):
            raise NotASessionError(day, self.name)
        return day

    def _at(self, day: dt.date, local: dt.time) -> pendulum.DateTime:
        return pendulum.datetime(
            day.year, day.month, day.day, local.hour, local.minute, local.second, tz=self._tz
        )

    def _hours(self, day: dt.date) -> DayHours:
        """The local hours of session ``day`` (in range, a session)."""
        return self._spec.hours_on(day).on_day(self._years.year(day.year).early_closes.get(day))

    def _regular(self, day: dt.date) -> Hours:
        return self._spec.hours_on(day)

    def _close_time(self, day: dt.date) -> dt.time:
        return self._hours(day).close

    def open_at(self, d: dt.date) -> pendulum.DateTime:
        """The open of session ``d`` in the exchange's zone.

        Raises:
            NotASessionError: ``d`` is not a session.
        """
        day = self._session(d)
        return self._at(day, self._hours(day).open)

    def close_at(self, d: dt.date) -> pendulum.DateTime:
        """The close of session ``d`` (an early close where there is one)."""
        day = self._session(d)
        return self._at(day, self._close_time(day))

    def breaks(self, d: dt.date) -> tuple[pendulum.DateTime, pendulum.DateTime] | None:
        """The midday break of session ``d`` (start, end), or None when it has none.

        A break is inside the session: the session runs from its open to its
        close, and trading pauses from the break's start to its end. An early
        close at or before the break's end leaves the session without one.

        Raises:
            NotASessionError: ``d`` is not a session.
        """
        day = self._session(d)
        hours = self._hours(day)
        if hours.break_start is None or hours.break_end is None:
            return None
        return self._at(day, hours.break_start), self._at(day, hours.break_end)

    def trading_spans(self, d: dt.date) -> tuple[tuple[pendulum.DateTime, pendulum.DateTime], ...]:
        """The spans ``[start, end)`` in which session ``d`` trades, in order.

        One span (open, close) for a session without a break; two around a
        break: (open, break start) and (break end, close). Validation counts
        the expected intraday bars of each span.

        Raises:
            NotASessionError: ``d`` is not a session.
        """
        day = self._session(d)
        return tuple((self._at(day, a), self._at(day, b)) for a, b in self._hours(day).spans())

    def premarket_open_at(self, d: dt.date) -> pendulum.DateTime:
        """The start of pre-market trading on session ``d`` (XNYS 04:00)."""
        day = self._session(d)
        return self._at(day, self._spec.premarket_open or self._hours(day).open)

    def afterhours_close_at(self, d: dt.date) -> pendulum.DateTime:
        """The end of after-hours trading on session ``d``.

        XNYS: 20:00, and 17:00 after a 13:00 early close (after-hours runs as
        long after an early close as after a regular one).
        """
        day = self._session(d)
        regular_close = self._regular(day).close
        extra = dt.datetime.combine(day, self._spec.afterhours_close or regular_close) - (
            dt.datetime.combine(day, regular_close)
        )
        return self._at(day, self._close_time(day)).add(seconds=int(extra.total_seconds()))

    def session_minutes(self, d: dt.date) -> int:
        """Minutes of trading in session ``d``, its break excluded.

        XNYS 390, or 210 on a 13:00 close; XTKS 330 (09:00-15:30 less the
        11:30-12:30 break).
        """
        day = self._session(d)
        return sum(
            _minutes(dt.datetime.combine(day, b) - dt.datetime.combine(day, a))
            for a, b in self._hours(day).spans()
        )

    def local_date(self, instant: dt.datetime) -> dt.date:
        """The exchange-local date of a tz-aware instant.

        Raises:
            CalendarError: ``instant`` is naive or not a datetime.
        """
        if not isinstance(instant, dt.datetime) or instant.utcoffset() is None:
            msg = f"instant={instant!r} is not accepted: a time-zone aware datetime"
            raise CalendarError(msg)
        return instant.astimezone(self._tz).date()

    def session_at(self, instant: dt.datetime) -> dt.date | None:
        """The session in progress at ``instant`` (open <= instant < close), or None.

        An instant in a midday break is in its session: the break is a pause,
        not a close (see :meth:`is_trading`).
        """
        day = self._check(self.local_date(instant))
        if not self._years.is_session(day):
            return None
        instant = instant.astimezone(dt.UTC)  # compared as instants, not wall-clock times
        hours = self._hours(day)
        if self._at(day, hours.open) <= instant < self._at(day, hours.close):
            return day
        return None

    def is_trading(self, instant: dt.datetime) -> bool:
        """Whether the exchange trades at ``instant``: in a session and not in its break."""
        day = self.session_at(instant)
        if day is None:
            return False
        utc = instant.astimezone(dt.UTC)
        return any(a <= utc < b for a, b in self.trading_spans(day))

    def next_open(self, instant: dt.datetime) -> pendulum.DateTime:
        """The first open strictly after ``instant``.

        Raises:
            DateOutOfRangeError: no session opens after it within the range.
        """
        day = self._check(self.local_date(instant))
        instant = instant.astimezone(dt.UTC)  # compared as instants, not wall-clock times
        if self._years.is_session(day):
            opening = self._at(day, self._hours(day).open)
            if instant < opening:
                return opening
        following = self.next_session(day)
        return self._at(following, self._hours(following).open)

    # -- amendments -------------------------------------------------------

    def amended(
        self,
        *,
        closures: Iterable[dt.date] | dt.date | str = (),
        early_closes: Mapping[dt.date, dt.time] = _NO_EARLY_CLOSES,
    ) -> ExchangeCalendar:
        """A new calendar with closures or early closes announced after release.

        This calendar is left unchanged.

        Args:
            closures: sessions on which the exchange will not open: one date,
                or several; ISO ``YYYY-MM-DD`` strings are read as dates.
            early_closes: sessions that will close early, with the local time
                (a naive ``datetime.time``).

        Returns:
            The amended calendar.

        Raises:
            DateOutOfRangeError: a date outside the range.
            NotASessionError: a date that is not a session here.
            CalendarError: a time not strictly between open and close, or a date
                both closed and closing early.
        """
        spec = amended_spec(self, closures, early_closes)
        return self if spec is None else ExchangeCalendar(spec)
