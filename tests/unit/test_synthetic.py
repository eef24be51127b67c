import datetime as dt

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.errors import BarsError
from preopen.model import validate
from preopen.store import open_store
from preopen.store.synthetic import Defect, plant, seed_store, symbol_names, synthetic_bars

XNYS = get_calendar("XNYS")
# Thanksgiving week 2024: Thursday 28 closed, Friday 29 closes at 13:00.
WEEK = XNYS.sessions(dt.date(2024, 11, 25), dt.date(2024, 11, 29))


def test_the_week_has_the_published_sessions():
    assert (dt.date(2024, 11, 25), dt.date(2024, 11, 26),
                    dt.date(2024, 11, 27), dt.date(2024, 11, 29)) == WEEK


def test_names():
    assert symbol_names(3) == ["S0000", "S0001", "S0002"]
    assert symbol_names(10_001)[-1] == "S10000"
    assert symbol_names(["X", "Y"]) == ["X", "Y"]
    with pytest.raises(BarsError):
        symbol_names(-1)


def test_bars_follow_the_calendar_and_are_clean():
    bars = synthetic_bars(5, XNYS, WEEK, "1m")
    assert sorted(bars) == symbol_names(5)
    assert {len(b) for b in bars.values()} == {390 * 3 + 210}
    report = validate({(s, "1m"): b for s, b in bars.items()}, XNYS, WEEK, ["1m"])
    assert report.ok
    one = bars["S0000"]
    assert bool(np.all(one.high >= np.maximum(one.open, one.close)))
    assert bool(np.all(one.low <= np.minimum(one.open, one.close)))
    assert bool(np.all(one.low > 0))


def test_deterministic_by_seed():
    a = synthetic_bars(3, XNYS, WEEK, "5m", seed=7)
    b = synthetic_bars(3, XNYS, WEEK, "5m", seed=7)
    c = synthetic_bars(3, XNYS, WEEK, "5m", seed=8)
    assert all(a[s] == b[s] for s in a)
    assert not any(a[s] == c[s] for s in a)
    assert a["S0000"] != a["S0001"]


def test_seed_store_writes_every_row_and_reports_progress(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/seed.db", create=True)
    calls = []
    rows = seed_store(
        store, XNYS, 60, WEEK, ["1m", "1d"], progress=lambda d, t: calls.append((d, t))
    )
    total = 60 * (1380 + 4)
    assert rows == total
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    start, end = XNYS.open_at(WEEK[0]), XNYS.close_at(WEEK[-1])
    loaded = store.load(symbol_names(60), "1m", start, end)
    assert all(loaded[s] == b for s, b in synthetic_bars(60, XNYS, WEEK, "1m").items())
    store.close()


def test_plant_counts():
    good = synthetic_bars(1, XNYS, WEEK[:1], "1m")["S0000"]
    assert len(plant(good, Defect.GAP, 5)) == 385
    assert len(plant(good, Defect.OUTSIDE_SESSION, 3)) == 393
    assert plant(good, Defect.DUPLICATE, 4).repairs.duplicates_dropped == 4
    assert plant(good, Defect.UNSORTED).repairs.was_unsorted
    assert len(plant(good, Defect.EMPTY)) == 0
    assert int(np.count_nonzero(plant(good, Defect.NEGATIVE_VOLUME, 6).volume < 0)) == 6
    with pytest.raises(BarsError, match="cannot plant"):
        plant(good, Defect.BAD_PRICE, 391)
