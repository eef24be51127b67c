import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql

from preopen.calendar import get_calendar
from preopen.errors import StoreConnectionError, StoreError, StoreSchemaError
from preopen.model import Bars
from preopen.store import BarStore, open_store
from preopen.store.synthetic import synthetic_bars

pytestmark = pytest.mark.postgres

XNYS = get_calendar("XNYS")
DAYS = (dt.date(2024, 7, 2), dt.date(2024, 7, 3))
START = dt.datetime(2024, 7, 2, tzinfo=dt.UTC)
END = dt.datetime(2024, 7, 4, tzinfo=dt.UTC)


@pytest.fixture
def store(pg_dsn, pg_table):
    s = open_store(pg_dsn, table=pg_table, create=True, connect_timeout=5)
    yield s
    s.close()


def test_is_a_bar_store_and_round_trips_exactly(store):
    ts = [1_719_927_000_000_000_000 + k * 60_000_000_000 for k in range(3)]
    bars = Bars.from_arrays("X", "1m", ts, [np.nan, -0.0, 1e-310], [np.inf, 2.0, 3.0],
                            [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, -0.0, 5.0])
    assert isinstance(store, BarStore)
    assert store.write("1m", {"X": bars}) == 3
    assert store.load(["X"], "1m", START, END)["X"].equals(bars)


@pytest.mark.parametrize("method", ["arrays", "set", "rows"])
def test_every_load_shape_gives_the_same_bars(store, method):
    bars = synthetic_bars(70, XNYS, DAYS, "1m")
    store.write("1m", bars)
    store.method = method
    names = sorted(bars, reverse=True)
    out = store.load([*names, "NONE"], "1m", START, END)
    assert list(out) == [*names, "NONE"]
    assert all(out[s] == bars[s] and not out[s].repairs for s in names)
    assert len(out["NONE"]) == 0


def test_write_is_idempotent(store, pg_dsn):
    bars = synthetic_bars(["A", "B"], XNYS, DAYS, "1d")
    assert store.write("1d", bars) == 4
    assert store.write("1d", bars) == 4
    schema, name = store.table.split(".")
    with psycopg.connect(pg_dsn) as conn:
        count = conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))
        ).fetchone()
    assert count == (4,)
    assert store.symbols() == ("A", "B")


def test_hostile_symbol_is_just_a_symbol(store):
    store.write("1m", synthetic_bars(["A"], XNYS, DAYS[:1], "1m"))
    hostile = "x'); drop table bars; --"
    out = store.load([hostile, "A"], "1m", START, END)
    assert len(out[hostile]) == 0
    assert len(out["A"]) == 390
    store.write("1m", synthetic_bars([hostile], XNYS, DAYS[:1], "1m"))
    assert len(store.load([hostile], "1m", START, END)[hostile]) == 390
    assert store.symbols() == ("A", hostile)


def test_concurrent_loads_from_threads(store):
    bars = synthetic_bars(20, XNYS, DAYS, "5m")
    store.write("5m", bars)
    names = sorted(bars)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(store.load, names[i::4], "5m", START, END) for i in range(4)]
        for future in futures:
            result = future.result(timeout=60)
            assert all(result[s] == bars[s] for s in result)


def test_table_from_the_url(pg_dsn, pg_table):
    open_store(pg_dsn, table=pg_table, create=True, connect_timeout=5).close()
    sep = "&" if "?" in pg_dsn else "?"
    s = open_store(f"{pg_dsn}{sep}table={pg_table}", connect_timeout=5)
    assert s.table == pg_table
    s.close()


def test_missing_table(pg_dsn, pg_table):
    with pytest.raises(StoreSchemaError, match=rf"{pg_table}.*does not exist.*schema.sql"):
        open_store(pg_dsn, table=pg_table, connect_timeout=5)


def test_wrong_column_types(pg_dsn, pg_table):
    schema, name = pg_table.split(".")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(
            "create table {} (symbol text, interval text, ts bigint, open real, high float8, "
            "low float8, close float8)").format(sql.Identifier(schema, name)))
    with pytest.raises(StoreSchemaError, match=r"ts is bigint.*open is real.*volume is missing"):
        open_store(pg_dsn, table=pg_table, connect_timeout=5)


def test_unreachable_server_names_host_port_database_never_the_password():
    url = "postgresql://someone:s3cret-pw@127.0.0.1:1/nodb"
    with pytest.raises(StoreConnectionError) as caught:
        open_store(url, connect_timeout=2)
    error = caught.value
    assert (error.host, error.port, error.database) == ("127.0.0.1", 1, "nodb")
    assert "host 127.0.0.1 port 1 database nodb" in str(error)
    assert "s3cret-pw" not in str(error)
    assert "s3cret-pw" not in error.url
    assert isinstance(error, ConnectionError)


def test_unknown_database_is_a_connection_error(pg_dsn):
    parts = urlsplit(pg_dsn)
    url = parts._replace(path="/preopen_no_such_database").geturl()
    with pytest.raises(StoreConnectionError, match="database preopen_no_such_database"):
        open_store(url, connect_timeout=5)


def test_a_table_dropped_under_a_store_is_a_schema_error(store, pg_dsn):
    schema, name = store.table.split(".")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, name)))
    with pytest.raises(StoreSchemaError, match="does not exist"):
        store.load(["A"], "1m", START, END)


def test_bad_table_and_method(pg_dsn):
    with pytest.raises(StoreError, match="table='a;b'"):
        open_store(pg_dsn, table="a;b")
    with pytest.raises(StoreError, match="pool_size='0'"):
        open_store(pg_dsn, pool_size=0)


def test_ts_must_be_whole_microseconds(store):
    bars = Bars.from_arrays("A", "1m", [1_719_927_000_000_000_001], [1], [1], [1], [1], [1])
    with pytest.raises(StoreError, match="microseconds"):
        store.write("1m", {"A": bars})
