import datetime as dt
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import preopen.store._sqlite as sqlite_module
from preopen.calendar import get_calendar
from preopen.errors import (
    BarsError,
    SettingsError,
    StoreError,
    StoreSchemaError,
    StoreUrlError,
    StoreWideError,
    is_store_wide,
    is_transient,
)
from preopen.model import Bars
from preopen.store import BarStore, open_store
from preopen.store.synthetic import synthetic_bars

XNYS = get_calendar("XNYS")
DAYS = (dt.date(2024, 7, 2), dt.date(2024, 7, 3))
START = dt.datetime(2024, 7, 2, tzinfo=dt.UTC)
END = dt.datetime(2024, 7, 4, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/bars.db", create=True)
    yield s
    s.close()


def test_is_a_bar_store(store):
    assert isinstance(store, BarStore)


def test_round_trip_is_exact_including_nan_and_negative_zero(store):
    ts = [1_719_927_000_000_000_000 + k * 60_000_000_000 for k in range(3)]
    bars = Bars.from_arrays("X", "1m", ts, [np.nan, -0.0, 1e-310], [np.inf, 2.0, 3.0],
                            [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, -0.0, 5.0])
    assert store.write("1m", {"X": bars}) == 3
    back = store.load(["X"], "1m", START, END)["X"]
    assert back.equals(bars)
    assert np.signbit(back.open[1])
    assert np.signbit(back.volume[1])


def test_write_is_idempotent(store):
    bars = synthetic_bars(["A", "B"], XNYS, DAYS, "1m")
    assert store.write("1m", bars) == 1200
    assert store.write("1m", bars) == 1200
    conn = sqlite3.connect(store.path)
    assert conn.execute("select count(*) from bars").fetchone()[0] == 1200
    loaded = store.load(["A", "B"], "1m", START, END)
    assert loaded["A"] == bars["A"]
    assert loaded["B"] == bars["B"]


def test_every_requested_symbol_is_a_key_and_hostile_symbols_are_just_symbols(store):
    store.write("1m", synthetic_bars(["A"], XNYS, DAYS, "1m"))
    hostile = "x'); drop table bars; --"
    out = store.load(["A", hostile, "NONE"], "1m", START, END)
    assert list(out) == ["A", hostile, "NONE"]
    assert len(out[hostile]) == 0
    assert len(out["NONE"]) == 0
    assert len(out["A"]) == 600
    assert store.symbols() == ("A",)


def test_load_is_start_inclusive_end_exclusive(store):
    bars = synthetic_bars(["A"], XNYS, DAYS, "1m")["A"]
    store.write("1m", {"A": bars})
    start = XNYS.open_at(DAYS[1])
    end = start + dt.timedelta(minutes=10)
    out = store.load(["A"], "1m", start, end)["A"]
    assert len(out) == 10
    assert out.ts[0] == 1_720_013_400_000_000_000


def test_intervals_are_separate(store):
    store.write("1d", synthetic_bars(["A"], XNYS, DAYS, "1d"))
    assert len(store.load(["A"], "1m", START, END)["A"]) == 0
    assert len(store.load(["A"], "1d", START, END)["A"]) == 2


def test_concurrent_loads_from_threads(store):
    bars = synthetic_bars(40, XNYS, DAYS, "1m")
    store.write("1m", bars)
    names = sorted(bars)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(store.load, names[i::4], "1m", START, END) for i in range(4)]
        results = [f.result(timeout=30) for f in futures]
    for result in results:
        assert all(result[s] == bars[s] for s in result)


def test_a_table_name_from_the_url_or_the_argument(tmp_path):
    by_url = open_store(f"sqlite:///{tmp_path}/t.db?table=mine", create=True)
    assert by_url.table == "mine"
    by_url.write("1m", synthetic_bars(["A"], XNYS, DAYS[:1], "1m"))
    by_url.close()
    tables = sqlite3.connect(tmp_path / "t.db").execute(
        "select name from sqlite_master where type = 'table'").fetchall()
    assert tables == [("mine",)]


def test_wrong_columns_are_a_schema_error(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("create table bars (symbol text, ts integer, price real)")
    conn.commit()
    with pytest.raises(StoreSchemaError, match="lacks the columns interval, open"):
        open_store(f"sqlite:///{tmp_path}/old.db", create=True)
    with pytest.raises(StoreSchemaError, match="lacks the columns interval, open"):
        open_store(f"sqlite:///{tmp_path}/old.db")


@pytest.mark.parametrize(
    ("url", "table", "match"),
    [
        ("mysql://h/db", None, r"unknown scheme 'mysql'.*sqlite:///.*postgresql://"),
        ("sqlite://", None, "a file"),
        ("sqlite:///", None, "a file"),
        ("sqlite:///:memory:", None, "not :memory:"),
        ("sqlite://host/x.db", None, "no host"),
        ("sqlite:///x.db", "myschema.bars", "plain table name on SQLite"),
        ("sqlite:///x.db?table=myschema.bars", None, "plain table name on SQLite"),
        ("sqlite:///x.db?table=bad;name", None, r"table='bad;name'"),
        ("postgresql://h/db?table=bad;name", None, r"table='bad;name'"),
    ],
)
def test_bad_urls_are_bad_input(url, table, match):
    with pytest.raises(StoreUrlError, match=match) as caught:
        open_store(url, table=table)
    # Bad input, never retried: the CLI maps SettingsError to exit 2.
    assert isinstance(caught.value, SettingsError)
    assert isinstance(caught.value, ValueError)
    assert is_store_wide(caught.value)
    assert not is_transient(caught.value)


def test_a_directory_that_cannot_hold_the_file(tmp_path):
    with pytest.raises(StoreWideError, match="cannot open") as caught:
        open_store("sqlite:////nonexistent-dir/x/bars.db", create=True)
    assert is_store_wide(caught.value)
    with pytest.raises(StoreSchemaError, match=r"does not exist.*seed"):
        open_store("sqlite:////nonexistent-dir/x/bars.db")
    assert not (tmp_path / "x.db").exists()


def test_bad_table_name(tmp_path):
    with pytest.raises(StoreError, match="table='a b'"):
        open_store(f"sqlite:///{tmp_path}/x.db", table="a b")


def test_bad_arguments(store):
    with pytest.raises(BarsError, match="interval"):
        store.load(["A"], "2m", START, END)
    with pytest.raises(BarsError, match="naive"):
        store.load(["A"], "1m", dt.datetime(2024, 7, 2), END)
    with pytest.raises(StoreError, match="symbols"):
        store.load("A", "1m", START, END)
    with pytest.raises(StoreError, match="cannot write"):
        store.write("1d", synthetic_bars(["A"], XNYS, DAYS, "1m"))


def test_closed_store_refuses(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/c.db", create=True)
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.load(["A"], "1m", START, END)


def test_the_table_refuses_a_bar_blob_of_another_size(store):
    conn = sqlite3.connect(store.path)
    conn.execute("insert into bars values ('A', '1m', 1, 1, 1, 1, 1, 1, zeroblob(48))")
    conn.commit()
    assert len(store.load(["A"], "1m", 0, 2)["A"]) == 1
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("insert into bars values ('A', '1m', 2, 1, 1, 1, 1, 1, zeroblob(40))")


def test_base_exceptions_pass_through(store, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sqlite_module, "bars_from_concatenated", boom)
    store.write("1m", synthetic_bars(["A"], XNYS, DAYS[:1], "1m"))
    with pytest.raises(KeyboardInterrupt):
        store.load(["A"], "1m", START, END)
