"""Properties of the timing rules for any tz-aware instant in any zone."""

from __future__ import annotations

import datetime as dt

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from preopen.calendar import get_calendar
from preopen.calendar.timing import (
    Phase,
    next_phase_change,
    phase_at,
    prefetch_start,
    target_session,
)

XNYS = get_calendar("XNYS")
ZONES = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Kiritimati",
    "Asia/Kolkata",
]
TICK = dt.timedelta(microseconds=1)

instants = st.builds(
    lambda moment, zone: pendulum.instance(moment, tz="UTC").in_tz(zone),
    st.datetimes(
        min_value=dt.datetime(1990, 1, 3), max_value=dt.datetime(2099, 12, 28),
    ),
    st.sampled_from(ZONES),
)
# Windows from none to longer than the night between two sessions.
windows = st.one_of(
    st.sampled_from(
        [dt.timedelta(0), dt.timedelta(minutes=60), dt.timedelta(hours=17, minutes=30)]
    ),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=30)),
)
sessions = st.dates(min_value=dt.date(1990, 1, 3), max_value=dt.date(2099, 12, 28)).map(
    lambda d: d if XNYS.is_session(d) else XNYS.next_session(d)
)


@given(instants, windows)
def test_phase_is_consistent_with_session_at_and_next_open(instant, window):
    phase = phase_at(instant, XNYS, window)
    session = XNYS.session_at(instant)
    assert (phase is Phase.OPEN) == (session is not None)
    if session is not None:
        assert XNYS.open_at(session) <= instant < XNYS.close_at(session)
        assert target_session(instant, XNYS, window) == session
        return
    opening = XNYS.next_open(instant)
    assert opening > instant
    assert target_session(instant, XNYS, window) == opening.date()
    in_window = opening - window <= instant
    assert (phase is Phase.PREFETCHING) == in_window
    local = instant.astimezone(pendulum.timezone(XNYS.timezone)).date()
    after_close = XNYS.is_session(local) and instant >= XNYS.close_at(local)
    if not in_window:
        assert (phase is Phase.CLOSED) == after_close
        assert (phase is Phase.IDLE) == (not after_close)


@given(sessions, windows, st.sampled_from(ZONES))
def test_prefetch_start_is_open_minus_window_in_any_zone(session, window, zone):
    start = prefetch_start(XNYS, session, window)
    opening = XNYS.open_at(session)
    assert opening - start == window
    assert start.in_tz(zone) == opening.in_tz("UTC") - window
    assert (opening.in_tz(zone) - start.in_tz(zone)) == window
    assert start.timezone_name == XNYS.timezone


@given(instants, windows)
def test_next_phase_change_changes_and_nothing_changes_before(instant, window):
    phase = phase_at(instant, XNYS, window)
    change = next_phase_change(instant, XNYS, window)
    assert change > instant
    assert phase_at(change, XNYS, window) is not phase
    assert phase_at(change - TICK, XNYS, window) is phase
    # A few points in between keep the phase too.
    span = change - instant
    for fraction in (0.25, 0.5, 0.75):
        assert phase_at(instant + span * fraction, XNYS, window) is phase


@given(instants, windows)
def test_the_phase_cycle(instant, window):
    # Phases follow IDLE/CLOSED -> PREFETCHING -> OPEN -> CLOSED/PREFETCHING.
    phase = phase_at(instant, XNYS, window)
    following = phase_at(next_phase_change(instant, XNYS, window), XNYS, window)
    allowed = {
        Phase.IDLE: {Phase.PREFETCHING, Phase.OPEN},
        Phase.PREFETCHING: {Phase.OPEN},
        Phase.OPEN: {Phase.CLOSED, Phase.PREFETCHING},
        Phase.CLOSED: {Phase.IDLE, Phase.PREFETCHING},
    }
    assert following in allowed[phase]


# Calendars with a midday break, and instants given in their own zone or in UTC.
BREAK_CALENDARS = [get_calendar("XTKS"), get_calendar("XHKG")]
break_instants = st.builds(
    lambda moment, zone: pendulum.instance(moment, tz="UTC").in_tz(zone),
    st.datetimes(min_value=dt.datetime(2000, 1, 5), max_value=dt.datetime(2030, 12, 20)),
    st.sampled_from(["UTC", "Asia/Tokyo", "Asia/Hong_Kong", "America/New_York"]),
)


@given(break_instants, windows, st.sampled_from(BREAK_CALENDARS))
@settings(deadline=None)  # timing under a loaded machine is not the property
def test_a_break_is_inside_the_open_phase(instant, window, calendar):
    phase = phase_at(instant, calendar, window)
    session = calendar.session_at(instant)
    assert (phase is Phase.OPEN) == (session is not None)
    if calendar.is_trading(instant):
        assert phase is Phase.OPEN
    change = next_phase_change(instant, calendar, window)
    assert phase_at(change, calendar, window) is not phase
    assert phase_at(change - TICK, calendar, window) is phase
    if session is not None:
        # The change out of OPEN is the close, never the break.
        assert change == calendar.close_at(session)


ny_instants = st.builds(
    lambda moment: pendulum.instance(moment, tz="UTC"),
    st.one_of(
        # Around the autumn changes, where an hour repeats in New York.
        st.sampled_from([2007, 2015, 2024, 2030]).flatmap(
            lambda year: st.datetimes(
                min_value=dt.datetime(year, 10, 28), max_value=dt.datetime(year, 11, 10)
            )
        ),
        st.datetimes(min_value=dt.datetime(1990, 1, 3), max_value=dt.datetime(2099, 12, 28)),
    ),
)
long_windows = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=40))


@given(ny_instants, long_windows)
@settings(deadline=None)  # timing under a loaded machine is not the property
def test_the_same_instant_in_any_zone_has_the_same_answers(instant, window):
    local = instant.in_tz(XNYS.timezone)
    assert phase_at(local, XNYS, window) is phase_at(instant, XNYS, window)
    from_utc = next_phase_change(instant, XNYS, window).in_tz("UTC")
    from_local = next_phase_change(local, XNYS, window).in_tz("UTC")
    assert from_utc == from_local
