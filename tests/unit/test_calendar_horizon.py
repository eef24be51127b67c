"""The horizon: a calendar that ends soon warns before it and refuses to plan past it.

The calendar is a TOML file whose horizon is 2027-01-29, a Friday; it has no
holidays, so the sessions left are the weekdays, counted here by hand.
"""

from __future__ import annotations

import datetime as dt

import pytest
from support.calendars import ENDS_SOON

from preopen.calendar import get_calendar
from preopen.calendar.timing import horizon_warning, sessions_before_horizon
from preopen.errors import CalendarError, DateOutOfRangeError, NotASessionError


@pytest.fixture
def soon(tmp_path):
    path = tmp_path / "soon.toml"
    path.write_text(ENDS_SOON)
    return get_calendar(str(path))


@pytest.mark.parametrize(
    ("session", "left"),
    [
        (dt.date(2026, 12, 31), 21),  # Jan 1, then four weeks of five
        (dt.date(2027, 1, 1), 20),
        (dt.date(2027, 1, 4), 19),
        (dt.date(2027, 1, 22), 5),
        (dt.date(2027, 1, 29), 0),  # the horizon itself
    ],
)
def test_sessions_before_horizon(soon, session, left):
    assert soon.horizon == dt.date(2027, 1, 29)
    assert sessions_before_horizon(soon, session) == left
    assert sessions_before_horizon(soon, session, at_most=3) == min(left, 3)


@pytest.mark.parametrize(
    ("session", "warns"),
    [
        (dt.date(2026, 12, 31), False),
        (dt.date(2027, 1, 1), False),  # 20 left: not fewer than 20
        (dt.date(2027, 1, 4), True),
        (dt.date(2027, 1, 29), True),
    ],
)
def test_horizon_warning_at_twenty_sessions(soon, session, warns):
    message = horizon_warning(soon, session, 20)
    assert (message is not None) is warns
    if warns:
        assert "SOON" in message
        assert "2027-01-29" in message
        assert session.isoformat() in message


def test_zero_never_warns(soon):
    assert horizon_warning(soon, dt.date(2027, 1, 29), 0) is None


def test_planning_past_the_horizon_is_refused(soon):
    with pytest.raises(DateOutOfRangeError) as info:
        sessions_before_horizon(soon, dt.date(2027, 2, 1))
    assert "past the horizon of calendar SOON (2027-01-29" in str(info.value)
    with pytest.raises(DateOutOfRangeError, match="past the calendar's range"):
        soon.next_session(dt.date(2027, 1, 29))
    with pytest.raises(DateOutOfRangeError):
        soon.is_session(dt.date(2027, 2, 1))


@pytest.mark.parametrize("bad", [-1, 2.5, True, "20"])
def test_warning_sessions_must_be_a_count(soon, bad):
    with pytest.raises(CalendarError, match="warning_sessions="):
        horizon_warning(soon, dt.date(2027, 1, 4), bad)


def test_a_weekend_is_not_planned(soon):
    with pytest.raises(NotASessionError):
        sessions_before_horizon(soon, dt.date(2027, 1, 2))


def test_xnys_horizon_is_the_end_of_its_rules():
    xnys = get_calendar("XNYS")
    assert xnys.horizon == dt.date(2099, 12, 31)
    # 2099-12-28..31 are Monday..Thursday sessions.
    assert sessions_before_horizon(xnys, dt.date(2099, 12, 28)) == 3


def test_the_horizon_warning_setting():
    from preopen.errors import SettingsError  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415

    assert Settings().horizon_warning_sessions == 20
    loaded = Settings.load(env={"PREOPEN_HORIZON_WARNING_SESSIONS": "0"})
    assert loaded.horizon_warning_sessions == 0
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"PREOPEN_HORIZON_WARNING_SESSIONS": "-1"})
    assert "horizon_warning_sessions=-1 (from PREOPEN_HORIZON_WARNING_SESSIONS)" in str(info.value)
    assert "0 to 10000" in str(info.value)
    with pytest.raises(SettingsError, match="a whole number"):
        Settings.load(horizon_warning_sessions="many")
