"""Bad data from the store: flagged per symbol in the snapshot's report, nothing valid dropped.

Two paths: bars the store holds (NaN prices and a bar outside the session,
written into SQLite), and bars as a store's driver hands them over
(duplicate and unsorted timestamps, NaN or non-positive prices, bars outside
the session, a symbol with no bars; planted into the loaded Bars).

Answer data: 2024-11-26's trailing sessions are 11-22 and 11-25, each
09:30-16:00, so 2 x 78 five-minute bars are expected per symbol.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from _faulty import FaultyStore
from _world import WAIT, Started, seed_sqlite, settings
from support.week import XNYS, at

from preopen.clock import SimulatedClock
from preopen.model import Bars
from preopen.store import open_store
from preopen.store.synthetic import Defect, plant, symbol_names

DAY = dt.date(2024, 11, 26)
START, END = XNYS.open_at(dt.date(2024, 11, 22)), XNYS.close_at(dt.date(2024, 11, 25))
EXPECTED = 2 * 78
NAMES = tuple(symbol_names(10))
TAMPERED = {  # symbol -> (defect, count), planted into the loaded bars
    "S0001": (Defect.BAD_PRICE, 3),
    "S0002": (Defect.DUPLICATE, 4),
    "S0003": (Defect.UNSORTED, 1),
    "S0004": (Defect.OUTSIDE_SESSION, 2),
    "S0005": (Defect.EMPTY, 1),
}
NAN_AT = (10, 20)  # S0006: NaN close and NaN open at these positions, stored in SQLite
STORED_OUTSIDE = "S0007"  # one bar in the night after 11-22's close, stored in SQLite


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    url, written = seed_sqlite(tmp_path_factory.mktemp("bad-data") / "bars.db", len(NAMES))
    good = {s: b.between(START, END) for s, b in written["5m"].items()}
    records = written["5m"]["S0006"].records().copy()
    first = int(np.searchsorted(records["ts"], START.int_timestamp * 10**9))
    records["close"][first + NAN_AT[0]] = np.nan
    records["open"][first + NAN_AT[1]] = np.nan
    nan_bars = Bars.from_records("S0006", "5m", records)
    friday = written["5m"][STORED_OUTSIDE].between(START, XNYS.close_at(dt.date(2024, 11, 22)))
    outside = plant(friday, Defect.OUTSIDE_SESSION, 1)  # 10 h after 15:55: Saturday 01:55
    store = open_store(url, create=True)
    store.write("5m", {"S0006": nan_bars, STORED_OUTSIDE: outside})
    yield url, good, store
    store.close()


def spoiler(defect, count):
    return lambda bars: plant(bars, defect, count, seed=5)


def test_bad_data_is_flagged_per_symbol_and_nothing_valid_is_dropped(world):
    url, good, inner = world
    store = FaultyStore(inner, tamper={s: spoiler(d, c) for s, (d, c) in TAMPERED.items()})
    started = Started()
    try:
        clock = SimulatedClock(at(DAY, "08:29"))
        runtime = started(settings(url, symbols=NAMES), clock=clock, store=store)
        clock.advance_to(at(DAY, "09:30"))
        runtime.settle(timeout=WAIT)
        snapshot = runtime.snapshot()
        status = runtime.status()
    finally:
        started.stop_all()
    assert snapshot.session == DAY
    assert snapshot.symbols == NAMES  # the empty symbol too
    assert status.failed_symbols == ()  # every load answered: bad data is not a failed load
    assert status.fallbacks == 0
    report = snapshot.report
    # Unusable (not ok): bad prices, bars outside the session, no bars. Repaired
    # on the way in (ok, but reported): duplicates and unsorted input.
    unusable = {"S0001", "S0004", "S0005", "S0006", STORED_OUTSIDE}
    repaired = {"S0002", "S0003"}
    flagged = unusable | repaired
    assert set(report.failed_symbols) == unusable
    for name in NAMES:
        assert bool(report[name, "5m"].findings()) == (name in flagged), name
    entry = {s: report[s, "5m"] for s in NAMES}

    assert entry["S0001"].bad_prices == 3
    assert entry["S0002"].duplicates == 4
    assert entry["S0003"].unsorted
    assert entry["S0004"].outside_session == 2
    assert entry["S0005"].empty
    assert entry["S0005"].found == 0
    assert entry["S0006"].bad_prices == 2
    assert entry[STORED_OUTSIDE].outside_session == 1
    for name in NAMES:
        if name == "S0005":
            continue
        # Every expected bar is there: the defects are flagged, not "repaired" away.
        assert entry[name].expected == EXPECTED
        assert entry[name].found == EXPECTED, name
        assert entry[name].complete, name
    for name in repaired:
        assert entry[name].ok
    for name in set(NAMES) - flagged:
        assert entry[name].ok
        assert snapshot.bars(name, "5m").equals(good[name])

    assert_nothing_valid_dropped(snapshot, good, entry)


def assert_nothing_valid_dropped(snapshot, good, entry):
    """Each spoiled symbol keeps every good bar as loaded."""
    for name in ("S0002", "S0003", "S0004", STORED_OUTSIDE):
        bars = snapshot.bars(name, "5m")
        valid = np.isin(bars.ts, good[name].ts)
        assert int(np.count_nonzero(valid)) == EXPECTED, name
        assert np.array_equal(bars.records()[valid], good[name].records()), name
    assert len(snapshot.bars("S0004", "5m")) == EXPECTED + 2
    assert len(snapshot.bars(STORED_OUTSIDE, "5m")) == EXPECTED + 1
    for name in ("S0001", "S0006"):
        bars, ref = snapshot.bars(name, "5m"), good[name]
        assert np.array_equal(bars.ts, ref.ts)
        prices = np.stack([bars.open, bars.close])
        clean = np.isfinite(prices).all(axis=0) & (prices > 0).all(axis=0)
        assert int(np.count_nonzero(~clean)) == entry[name].bad_prices
        assert np.array_equal(bars.close[clean], ref.close[clean])
        assert np.array_equal(bars.volume, ref.volume)
    nan_bars = snapshot.bars("S0006", "5m")
    assert np.isnan(nan_bars.close[NAN_AT[0]])
    assert np.isnan(nan_bars.open[NAN_AT[1]])
