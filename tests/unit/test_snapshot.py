import dataclasses
import datetime as dt

import pytest

from preopen.calendar import get_calendar
from preopen.errors import BarsError
from preopen.model import Bars, SessionSnapshot, validate
from preopen.store.synthetic import synthetic_bars

XNYS = get_calendar("XNYS")
DAY = dt.date(2024, 7, 3)
UTC = dt.UTC


def snapshot(built_at=dt.datetime(2024, 7, 3, 12, 30, tzinfo=UTC), seed=0):
    bars = synthetic_bars(["A", "B"], XNYS, [DAY], "1m", seed=seed)
    data = {(s, "1m"): b for s, b in bars.items()}
    return SessionSnapshot(
        session=DAY, open=XNYS.open_at(DAY), close=XNYS.close_at(DAY), data=data,
        report=validate(data, XNYS, [DAY], ["1m"]), built_at=built_at,
    )


def test_data_is_read_only_and_detached_from_the_callers_dict():
    bars = synthetic_bars(["A"], XNYS, [DAY], "1m")
    data = {("A", "1m"): bars["A"]}
    snap = SessionSnapshot(session=DAY, open=XNYS.open_at(DAY), close=XNYS.close_at(DAY), data=data)
    data[("B", "1m")] = Bars.empty("B", "1m")
    assert list(snap.data) == [("A", "1m")]
    with pytest.raises(TypeError):
        snap.data[("C", "1m")] = Bars.empty("C", "1m")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.session = DAY  # type: ignore[misc]


def test_bars_lookup_and_a_clear_key_error():
    snap = snapshot()
    assert len(snap.bars("A", "1m")) == 210
    with pytest.raises(KeyError, match=r"'ZZZ'.*'1m'"):
        snap.bars("ZZZ", "1m")
    with pytest.raises(KeyError, match=r"'A'.*'1d'.*held: 1m"):
        snap.bars("A", "1d")


def test_sizes():
    snap = snapshot()
    assert snap.symbols == ("A", "B")
    assert snap.intervals == ("1m",)
    assert snap.nbars == 420
    assert snap.nbytes == 420 * 48


def test_equality_by_contents_not_by_build_time():
    a = snapshot()
    b = snapshot(built_at=dt.datetime(2024, 7, 3, 13, 0, tzinfo=UTC))
    assert a == b
    assert hash(a) == hash(b)
    assert a != snapshot(seed=1)


def test_a_key_must_match_its_bars():
    bars = synthetic_bars(["A"], XNYS, [DAY], "1m")["A"]
    with pytest.raises(BarsError, match="key"):
        SessionSnapshot(session=DAY, open=XNYS.open_at(DAY), close=XNYS.close_at(DAY),
                        data={("B", "1m"): bars})


def test_naive_times_are_refused():
    with pytest.raises(BarsError, match="tz-aware"):
        SessionSnapshot(session=DAY, open=dt.datetime(2024, 7, 3, 9, 30),
                        close=XNYS.close_at(DAY), data={})


def test_a_dropped_snapshot_is_freed_by_its_reference_count_alone():
    # A cycle inside a snapshot would leave a replaced one to the cyclic
    # collector, which may then run at the open; with none, the last
    # reference's release frees the arrays at once.
    import gc  # noqa: PLC0415
    import weakref  # noqa: PLC0415

    snap = snapshot()
    column = weakref.ref(snap.table("1m").close)
    bars = snap.bars(*next(iter(snap.data)))
    del bars
    gc.disable()
    try:
        del snap
        assert column() is None
    finally:
        gc.enable()
