"""Properties of the XNYS calendar over its whole range, 1990-2099."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from preopen.calendar import get_calendar

XNYS = get_calendar("XNYS")
FIRST = dt.date(1990, 1, 1)
LAST = dt.date(2099, 12, 31)
DAY = dt.timedelta(days=1)

dates = st.dates(min_value=FIRST, max_value=LAST)
inner_dates = st.dates(min_value=dt.date(1990, 1, 3), max_value=dt.date(2099, 12, 30))
years = st.integers(min_value=1990, max_value=2099)


@given(inner_dates)
def test_next_session_is_the_first_session_after(d):
    following = XNYS.next_session(d)
    assert following > d
    assert XNYS.is_session(following)
    day = d + DAY
    while day < following:
        assert not XNYS.is_session(day)
        day += DAY
    # Sessions are never more than a long weekend plus a week of closures apart.
    assert following - d <= dt.timedelta(days=7)


@given(inner_dates)
def test_previous_session_is_the_last_session_before(d):
    before = XNYS.previous_session(d)
    assert before < d
    assert XNYS.is_session(before)
    assert XNYS.sessions(before + DAY, d - DAY) == ()
    assert XNYS.next_session(before) >= d


@given(inner_dates)
def test_previous_of_next_is_not_after(d):
    assert XNYS.previous_session(XNYS.next_session(d)) <= d
    assert XNYS.next_session(XNYS.previous_session(d)) >= d


@given(st.dates(min_value=dt.date(1991, 1, 1), max_value=LAST), st.integers(0, 60))
def test_trailing_sessions(d, n):
    trailing = XNYS.trailing_sessions(d, n)
    assert len(trailing) == n
    assert all(a < b for a, b in itertools.pairwise(trailing))
    assert all(s < d and XNYS.is_session(s) for s in trailing)
    if n:
        assert trailing[-1] == XNYS.previous_session(d)
        assert XNYS.sessions(trailing[0], d - DAY) == trailing


@given(dates)
def test_open_before_close_on_the_local_date(d):
    if not XNYS.is_session(d):
        return
    opening, closing = XNYS.open_at(d), XNYS.close_at(d)
    assert opening < closing
    assert opening.date() == d
    assert closing.date() == d
    assert (opening.hour, opening.minute) == (9, 30)
    assert closing.time() in (dt.time(16), dt.time(13), dt.time(14))
    assert XNYS.premarket_open_at(d) < opening
    assert closing < XNYS.afterhours_close_at(d)
    minutes = XNYS.session_minutes(d)
    assert minutes == (closing - opening).total_seconds() / 60
    assert (minutes == 390) == (d not in XNYS.early_closes(d.year))
    offset = opening.utcoffset()
    assert offset in (dt.timedelta(hours=-5), dt.timedelta(hours=-4))


@given(years)
def test_holidays_are_exactly_the_weekday_non_sessions(year):
    holidays = XNYS.holidays(year)
    assert list(holidays) == sorted(set(holidays))
    day = dt.date(year, 1, 1)
    found = []
    while day.year == year:
        if day.weekday() < 5 and not XNYS.is_session(day):
            found.append(day)
        if day.weekday() >= 5:
            assert not XNYS.is_session(day)
        day += DAY
    assert tuple(found) == holidays
    # The rule holidays (7 before MLK Day in 1998, 10 from Juneteenth in
    # 2022), less a New Year's Day on a Saturday, plus ad-hoc closures
    # (at most four, in 2001).
    assert 7 <= len(holidays) <= 14
    for early in XNYS.early_closes(year):
        assert XNYS.is_session(early)
        assert early.year == year


@given(years)
def test_session_count_per_year(year):
    count = len(XNYS.sessions(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    weekdays = sum(
        1 for i in range(366)
        if (dt.date(year, 1, 1) + dt.timedelta(days=i)).year == year
        and (dt.date(year, 1, 1) + dt.timedelta(days=i)).weekday() < 5
    )
    assert count == weekdays - len(XNYS.holidays(year))
    assert 240 <= count <= 256


@given(inner_dates)
def test_amending_leaves_the_original(d):
    if not XNYS.is_session(d):
        return
    before = XNYS.holidays(d.year)
    amended = XNYS.amended(closures=[d])
    assert not amended.is_session(d)
    assert XNYS.is_session(d)
    assert XNYS.holidays(d.year) == before
    assert set(amended.holidays(d.year)) == {*before, d}


BREAK_CALENDARS = {"XTKS": get_calendar("XTKS"), "XHKG": get_calendar("XHKG")}


@given(
    st.sampled_from(sorted(BREAK_CALENDARS)), st.dates(dt.date(2000, 1, 3), dt.date(2030, 12, 30))
)
@settings(deadline=None)  # timing under a loaded machine is not the property
def test_trading_spans_lie_in_the_session_around_its_break(code, d):
    calendar = BREAK_CALENDARS[code]
    day = d if calendar.is_session(d) else calendar.next_session(d)
    spans = calendar.trading_spans(day)
    opening, closing = calendar.open_at(day), calendar.close_at(day)
    assert spans[0][0] == opening
    assert spans[-1][1] == closing
    assert all(a < b for a, b in spans)
    pause = calendar.breaks(day)
    if pause is None:
        assert len(spans) == 1
    else:
        assert spans == ((opening, pause[0]), (pause[1], closing))
        middle = pause[0] + (pause[1] - pause[0]) / 2
        assert calendar.session_at(middle) == day
        assert not calendar.is_trading(middle)
    minutes = sum((b - a).total_seconds() for a, b in spans) / 60
    assert calendar.session_minutes(day) == minutes
    assert calendar.is_trading(opening)
    assert not calendar.is_trading(closing)


@given(
    st.sampled_from(sorted(BREAK_CALENDARS)),
    st.dates(dt.date(2000, 1, 3), dt.date(2029, 12, 31)),
    st.integers(min_value=1, max_value=400),
)
@settings(deadline=None)  # timing under a loaded machine is not the property
# Ranges across a change of hours, and short ones at its edge.
@example("XHKG", dt.date(2011, 2, 1), 60)
@example("XTKS", dt.date(2024, 10, 30), 30)
@example("XTKS", dt.date(2024, 11, 1), 5)
@example("XTKS", dt.date(2024, 11, 5), 2)
@example("XTKS", dt.date(2024, 4, 1), 218)  # the range ends a session into new hours
@example("XHKG", dt.date(2024, 12, 20), 12)
def test_an_export_of_explicit_dates_reads_back_the_same(code, start, days):
    from preopen.calendar import ExchangeCalendar, load_spec, spec_from_sessions, spec_to_toml  # noqa: PLC0415

    calendar = BREAK_CALENDARS[code]
    end = min(start + dt.timedelta(days=days), calendar.horizon)
    rows = []
    for day in calendar.sessions(start, end):
        pause = calendar.breaks(day)
        rows.append((
            day,
            calendar.open_at(day).time(),
            None if pause is None else pause[0].time(),
            None if pause is None else pause[1].time(),
            calendar.close_at(day).time(),
        ))
    if not rows:
        return
    spec = spec_from_sessions(
        name=code, timezone=calendar.timezone, weekend=frozenset({5, 6}),
        start=start, end=end, rows=rows,
    )
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cal.toml"
        path.write_text(spec_to_toml(spec, "round trip"))
        again = ExchangeCalendar(load_spec(path))
    assert again.spec == spec
    assert again.sessions(start, end) == calendar.sessions(start, end)
    for day in again.sessions(start, end):
        assert again.trading_spans(day) == calendar.trading_spans(day)
