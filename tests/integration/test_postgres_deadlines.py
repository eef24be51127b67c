"""PostgreSQL: deadlines, interrupt(), store-wide errors, the load shape, schema creation."""

import datetime as dt
import threading
import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql

from preopen.calendar import get_calendar
from preopen.errors import (
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreWideError,
    is_store_wide,
    is_transient,
)
from preopen.store import EMPTY, fingerprints_of, open_store
from preopen.store._postgres import PostgresStore
from preopen.store.synthetic import synthetic_bars

pytestmark = pytest.mark.postgres

XNYS = get_calendar("XNYS")
DAYS = (dt.date(2024, 7, 1), dt.date(2024, 7, 2))
START = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 7, 3, tzinfo=dt.UTC)
RANGES = [(XNYS.open_at(day), XNYS.close_at(day)) for day in DAYS]
WAIT = 20.0  # every wait is bounded


@pytest.fixture
def seeded(pg_dsn, pg_table):
    store = open_store(pg_dsn, table=pg_table, create=True, connect_timeout=5)
    bars = synthetic_bars(20, XNYS, DAYS, "1m")
    store.write("1m", bars)
    store.close()
    return pg_table, bars


def _ident(table):
    return sql.Identifier(*table.split("."))


@pytest.fixture
def locked(pg_dsn, seeded):
    """Another session holding ACCESS EXCLUSIVE on the table (as VACUUM FULL does)."""
    table, _ = seeded
    conn = psycopg.connect(pg_dsn)
    conn.execute(sql.SQL("lock table {} in access exclusive mode").format(_ident(table)))
    yield table
    conn.rollback()
    conn.close()


def test_a_load_blocked_by_a_lock_fails_by_its_deadline(pg_dsn, locked):
    store = open_store(pg_dsn, table=locked, load_timeout=0.5, connect_timeout=5)
    try:
        with pytest.raises(StoreTimeoutError) as caught:
            store.load(["S0000", "S0001"], "1m", START, END)
        error = caught.value
        assert error.seconds == 0.5
        assert error.operation == "load"
        assert "lock" in str(error)
        assert is_store_wide(error)
        assert is_transient(error)
    finally:
        store.close()


def test_interrupt_cancels_a_load_blocked_by_a_lock(pg_dsn, locked):
    store = open_store(pg_dsn, table=locked, load_timeout=3600, connect_timeout=5)
    done = threading.Event()
    outcome: list[BaseException] = []

    def load():
        try:
            store.load(["S0000"], "1m", START, END)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as watcher:
            waiting = threading.Event()
            for _ in range(int(WAIT / 0.05)):
                row = watcher.execute(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and query like 'copy (%%'"
                ).fetchone()
                if row and row[0]:
                    waiting.set()
                    break
                done.wait(0.05)
            assert waiting.is_set(), "the load never blocked on the lock"
        store.interrupt()
        assert done.wait(WAIT), "interrupt() did not stop the blocked load"
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreInterruptedError)
        assert is_store_wide(outcome[0])
    finally:
        thread.join(WAIT)
        store.close()


def test_a_missing_table_is_store_wide(pg_dsn, seeded):
    table, _ = seeded
    store = open_store(pg_dsn, table=table, connect_timeout=5)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop table {}").format(_ident(table)))
        with pytest.raises(StoreSchemaError) as caught:
            store.load(["S0000"], "1m", START, END)
        assert is_store_wide(caught.value)
        assert not is_transient(caught.value)
    finally:
        store.close()


def test_a_read_only_transaction_refusing_a_write_is_store_wide(pg_dsn, seeded):
    table, bars = seeded
    sep = "&" if "?" in pg_dsn else "?"
    url = f"{pg_dsn}{sep}options=-c default_transaction_read_only=on"
    store = open_store(url, table=table, connect_timeout=5)
    try:
        assert len(store.load(["S0000"], "1m", START, END)["S0000"]) == 780
        with pytest.raises(StoreWideError, match="read-only") as caught:
            store.write("1m", {"S0000": bars["S0000"]})
        assert is_store_wide(caught.value)
    finally:
        store.close()


def test_url_options_keep_their_spaces(pg_dsn, seeded):
    table, _ = seeded
    schema, name = table.split(".")
    sep = "&" if "?" in pg_dsn else "?"
    # search_path reaches the server only if "-c search_path=..." arrives intact.
    url = f"{pg_dsn}{sep}options=-c search_path={schema}&table={name}"
    store = open_store(url, connect_timeout=5)
    try:
        assert len(store.load(["S0001"], "1m", START, END)["S0001"]) == 780
    finally:
        store.close()


def test_create_makes_the_schema_and_a_covering_key(pg_dsn):
    schema = f"preopen_new_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(StoreSchemaError, match=f"schema '{schema}' does not exist"):
            open_store(pg_dsn, table=f"{schema}.bars", connect_timeout=5)
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("select to_regnamespace(%s)", (schema,)).fetchone() == (None,)
        store = open_store(pg_dsn, table=f"{schema}.bars", create=True, connect_timeout=5)
        store.close()
        with psycopg.connect(pg_dsn) as conn:
            included = conn.execute(
                "select i.indnatts - i.indnkeyatts from pg_index i "
                "where i.indrelid = to_regclass(%s) and i.indisprimary",
                (f"{schema}.bars",),
            ).fetchone()
        assert included == (5,)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(schema)))


def _copy_table(pg_dsn, source, target, order, key):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create table {} (like {})").format(_ident(target), _ident(source)))
        conn.execute(sql.SQL("insert into {} select * from {} order by {}").format(
            _ident(target), _ident(source), sql.SQL(order)))
        conn.execute(sql.SQL("alter table {} add primary key (symbol, interval, ts){}").format(
            _ident(target), sql.SQL(key)))


def test_the_shape_follows_the_table(pg_dsn, seeded, pg_schema):
    table, bars = seeded
    suffix = uuid.uuid4().hex[:8]
    by_symbol, by_time = f"{pg_schema}.sm_{suffix}", f"{pg_schema}.tm_{suffix}"
    _copy_table(pg_dsn, table, by_symbol, "symbol, interval, ts", "")
    _copy_table(pg_dsn, table, by_time, "interval, ts, symbol", "")
    # Never analyzed: the safe default, set-oriented.
    store = open_store(pg_dsn, table=by_symbol, connect_timeout=5)
    assert store.facts.correlation is None
    assert store.method == "set"
    store.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in (by_symbol, by_time):
            conn.execute(sql.SQL("analyze {}").format(_ident(name)))  # our own tables
    shapes = {}
    for name in (by_symbol, by_time):
        store = open_store(pg_dsn, table=name, connect_timeout=5)
        shapes[name] = store.method
        names = sorted(bars)
        out = store.load(names, "1m", START, END)  # 20 symbols: the table's shape
        assert all(out[s] == bars[s] and not out[s].repairs for s in names)
        store.close()
    assert shapes == {by_symbol: "arrays", by_time: "set"}


def test_fingerprints_match_the_bars_and_see_a_correction(pg_dsn, seeded):
    table, bars = seeded
    store = open_store(pg_dsn, table=table, connect_timeout=5)
    try:
        stored = store.fingerprints(["S0000", "S0003", "NONE"], "1m", RANGES)
        assert stored["S0000"] == fingerprints_of(bars["S0000"], RANGES)
        assert stored["S0003"] == fingerprints_of(bars["S0003"], RANGES)
        assert stored["NONE"] == (EMPTY, EMPTY)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("update {} set close = close + 1e-9 where symbol = 'S0003' and ts = %s")
                .format(_ident(table)), (RANGES[1][0],))
        after = store.fingerprints(["S0000", "S0003"], "1m", RANGES)
        assert after["S0000"] == stored["S0000"]
        assert after["S0003"][0] == stored["S0003"][0]
        assert after["S0003"][1] != stored["S0003"][1]
        assert after["S0003"][1].rows == 390
    finally:
        store.close()


@pytest.mark.parametrize("method", ["arrays", "set", "rows"])
def test_a_host_table_with_null_prices_reads_them_as_nan(pg_dsn, pg_table, method):
    ident = _ident(pg_table)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(
            "create table {} (symbol text, interval text, ts timestamptz, open float8, "
            "high float8, low float8, close float8, volume float8, "
            "primary key (symbol, interval, ts))").format(ident))
        conn.execute(sql.SQL(
            "insert into {} values ('A', '1m', %s, null, 2, 1, 1.5, null), "
            "('A', '1m', %s, 1.5, 2, 1, 1.75, 10)").format(ident),
            (RANGES[0][0], RANGES[0][0] + dt.timedelta(minutes=1)))
    store = PostgresStore(pg_dsn, table=pg_table, connect_timeout=5, method=method)
    try:
        assert store.facts.nullable
        names = [f"Z{k:02d}" for k in range(20)] + ["A"]  # 21 symbols: the table's shape
        bars = store.load(names, "1m", START, END)["A"]
        assert len(bars) == 2
        assert np.isnan(bars.open[0])
        assert np.isnan(bars.volume[0])
        assert bars.close.tolist() == [1.5, 1.75]
    finally:
        store.close()
