"""The PostgreSQL store through real faults: backends terminated, a server restarted or down.

Faults on the shared server are only ``pg_terminate_backend`` of the test's
own backends (by application_name). Restarts and outages happen on the
throwaway cluster of ``pg_cluster``. Every fault is injected at a chosen
point of the store's work (a patched reader or statement), so that the first
attempt certainly meets it: no test hopes that a thread is fast enough.
The expected bars are the synthetic ones written, or a load made before the
fault.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql

import preopen.store._postgres as pgstore
from preopen.calendar import get_calendar
from preopen.errors import (
    StoreConnectionError,
    StoreError,
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreUnavailableError,
    is_store_wide,
    is_transient,
)
from preopen.store import open_store
from preopen.store._postgres import PostgresStore
from preopen.store.synthetic import synthetic_bars

pytestmark = pytest.mark.postgres

XNYS = get_calendar("XNYS")
DAYS = (dt.date(2024, 7, 2), dt.date(2024, 7, 3))  # 78 five-minute bars, then 42 (13:00 close)
START = dt.datetime(2024, 7, 2, tzinfo=dt.UTC)
END = dt.datetime(2024, 7, 4, tzinfo=dt.UTC)
SYMBOLS = 1000
JOIN = 60.0  # seconds any helper thread is given


@pytest.fixture(scope="module")
def expected():
    return synthetic_bars(SYMBOLS, XNYS, DAYS, "5m", seed=7)


@pytest.fixture(scope="module")
def shared(pg_dsn, pg_schema, expected):
    """(dsn, table): a table of 1,000 symbols on the shared server, in this run's schema."""
    table = f"{pg_schema}.faults_{uuid.uuid4().hex[:8]}"
    store = open_store(pg_dsn, table=table, create=True, connect_timeout=5)
    try:
        store.write("5m", expected)
    finally:
        store.close()
    return pg_dsn, table


def assert_exact(out, expected):
    assert list(out) == sorted(expected)
    for symbol, bars in expected.items():
        got = out[symbol]
        assert got.equals(bars), symbol
        assert not got.repairs, symbol  # no duplicate (or unsorted) ts came back
        assert bool(np.all(np.diff(got.ts) > 0)), symbol


def count_rows(dsn, table):
    schema, name = table.split(".")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(
            sql.SQL("select count(*), count(distinct (symbol, interval, ts)) from {}").format(
                sql.Identifier(schema, name))
        ).fetchone()


def in_thread(target):
    """Run ``target`` in a thread, wait for it, re-raise what it raised."""
    errors = []

    def run():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive(), f"{target} still running after {JOIN} s"
    if errors:
        raise errors[0]


def fault_before_first_read(monkeypatch, fault):
    """Run ``fault`` (in another thread) once, after a load's COPY began, before its reading."""
    done = []
    read_arrays, read_rows = pgstore.read_arrays, pgstore.read_rows

    def once():
        if not done:
            done.append(True)
            in_thread(fault)

    def arrays(copy, symbols, interval):
        once()
        return read_arrays(copy, symbols, interval)

    def rows(copy, symbols, interval):
        once()
        return read_rows(copy, symbols, interval)

    monkeypatch.setattr(pgstore, "read_arrays", arrays)
    monkeypatch.setattr(pgstore, "read_rows", rows)
    return done


# -- backends terminated on the shared server -------------------------------------------

@pytest.mark.parametrize("method", ["arrays", "rows"])
def test_load_after_every_pooled_connection_was_terminated(backends, shared, expected, method):
    pg_dsn, shared_table = shared
    name = backends.name()
    store = PostgresStore(backends.named(pg_dsn, name), table=shared_table,
                          connect_timeout=5, method=method)
    try:
        before = backends.pids(pg_dsn, name)
        assert backends.terminate(pg_dsn, name) == 2  # the whole pool: the first attempt fails
        out = store.load(sorted(expected), "5m", START, END)
        assert_exact(out, expected)
        assert store._pool.get_stats().get("returns_bad", 0) >= 1  # a dead one was met
        assert not backends.pids(pg_dsn, name) & before
    finally:
        store.close()


@pytest.mark.parametrize("method", ["arrays", "rows"])
def test_backends_terminated_by_another_thread_in_the_middle_of_a_load(
        monkeypatch, backends, shared, expected, method):
    pg_dsn, shared_table = shared
    name = backends.name()
    store = PostgresStore(backends.named(pg_dsn, name), table=shared_table,
                          connect_timeout=5, method=method)
    terminated = []
    try:
        fault_before_first_read(
            monkeypatch, lambda: terminated.append(backends.terminate(pg_dsn, name)))
        out = store.load(sorted(expected), "5m", START, END)
        assert terminated[0] >= 1
        assert_exact(out, expected)
    finally:
        store.close()


def test_symbols_after_every_pooled_connection_was_terminated(backends, shared, expected):
    pg_dsn, shared_table = shared
    name = backends.name()
    store = PostgresStore(backends.named(pg_dsn, name), table=shared_table,
                          connect_timeout=5)
    try:
        assert backends.terminate(pg_dsn, name) == 2
        assert store.symbols() == tuple(sorted(expected))
    finally:
        store.close()


def test_write_after_every_pooled_connection_was_terminated(backends, pg_dsn, pg_table):
    name = backends.name()
    bars = synthetic_bars(300, XNYS, DAYS, "15m", seed=3)
    store = open_store(backends.named(pg_dsn, name), table=pg_table, create=True,
                       connect_timeout=5)
    try:
        assert backends.terminate(pg_dsn, name) == 2
        rows = sum(len(b) for b in bars.values())
        assert store.write("15m", bars) == rows
        assert count_rows(pg_dsn, pg_table) == (rows, rows)
        assert_exact(store.load(sorted(bars), "15m", START, END), bars)
    finally:
        store.close()


def test_write_retried_after_its_connection_died_before_the_commit_leaves_one_copy(
        monkeypatch, backends, pg_dsn, pg_table):
    name = backends.name()
    bars = synthetic_bars(300, XNYS, DAYS, "15m", seed=4)
    store = open_store(backends.named(pg_dsn, name), table=pg_table, create=True,
                       connect_timeout=5)
    try:
        # Half the bars are there already: the retried upsert meets them too.
        first_half = dict(sorted(bars.items())[:150])
        store.write("15m", first_half)
        real_execute = psycopg.Connection.execute
        killed = []

        def execute(conn, query, *args, **kwargs):
            cursor = real_execute(conn, query, *args, **kwargs)
            text = query.as_string(conn) if isinstance(query, sql.Composable) else str(query)
            if "on conflict" in text and not killed:
                # The upsert ran inside the open transaction; the backend dies before the commit.
                killed.append(conn.info.backend_pid)
                in_thread(lambda: backends.terminate(pg_dsn, name))
            return cursor

        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        rows = sum(len(b) for b in bars.values())
        assert store.write("15m", bars) == rows
        assert killed
        monkeypatch.undo()
        assert count_rows(pg_dsn, pg_table) == (rows, rows)
        assert_exact(store.load(sorted(bars), "15m", START, END), bars)
    finally:
        store.close()


def test_a_schema_error_is_not_retried(pg_dsn, pg_table):
    store = PostgresStore(pg_dsn, table=pg_table, create=True, connect_timeout=5,
                          retry_for=60.0)
    try:
        schema, table = pg_table.split(".")
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, table)))
        asked = []
        connection = store._pool.connection

        def counted(*args, **kwargs):
            asked.append(True)
            return connection(*args, **kwargs)

        store._pool.connection = counted
        with pytest.raises(StoreSchemaError, match="does not exist"):
            store.load(["A"], "5m", START, END)
        assert len(asked) == 1
    finally:
        store.close()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_in_a_load_is_not_swallowed_and_the_store_lives_on(
        monkeypatch, shared, expected, interrupt):
    pg_dsn, shared_table = shared
    store = PostgresStore(pg_dsn, table=shared_table, pool_size=1, connect_timeout=5)
    try:
        calls = []
        read_arrays = pgstore.read_arrays

        def raising(copy, symbols, interval):
            calls.append(True)
            raise interrupt

        monkeypatch.setattr(pgstore, "read_arrays", raising)
        with pytest.raises(interrupt):
            store.load(sorted(expected)[:10], "5m", START, END)
        assert len(calls) == 1
        monkeypatch.setattr(pgstore, "read_arrays", read_arrays)
        names = sorted(expected)[:10]
        assert_exact(store.load(names, "5m", START, END), {s: expected[s] for s in names})
    finally:
        store.close()


# -- a server of our own, restarted and stopped -------------------------------------------

@pytest.fixture(scope="module")
def cluster_table(pg_cluster, expected):
    table = f"faults_{uuid.uuid4().hex[:8]}"
    store = open_store(pg_cluster.dsn, table=table, create=True, connect_timeout=5)
    try:
        store.write("5m", expected)
    finally:
        store.close()
    return table


@pytest.fixture
def running(pg_cluster):
    """The cluster, running before and after the test whatever it did."""
    if not pg_cluster.is_running():
        pg_cluster.start()
    yield pg_cluster
    if not pg_cluster.is_running():
        pg_cluster.start()


def started_at(cluster):
    with psycopg.connect(cluster.dsn, connect_timeout=5) as conn:
        row = conn.execute("select pg_postmaster_start_time()").fetchone()
    return row[0] if row else None


def test_a_load_completes_across_a_server_restart(monkeypatch, running, cluster_table, expected):
    store = open_store(running.dsn, table=cluster_table, connect_timeout=5)
    try:
        names = sorted(expected)
        before = store.load(names, "5m", START, END)
        assert_exact(before, expected)
        first_start = started_at(running)
        fault_before_first_read(monkeypatch, running.restart)
        out = store.load(names, "5m", START, END)
        assert started_at(running) != first_start  # the server did restart in the load
        assert_exact(out, expected)
        assert all(out[s].equals(before[s]) for s in names)
    finally:
        store.close()


def test_a_load_waits_for_a_server_that_comes_back_within_the_budget(
        monkeypatch, running, cluster_table, expected):
    # Stopped after the load began; started again once the store has seen a
    # failure (and the stop is over), so the retry waits for the pool to reconnect.
    store = PostgresStore(running.dsn, table=cluster_table, connect_timeout=5, retry_for=10.0)
    stopped = threading.Event()
    starter = []

    def stop():
        running.stop()
        stopped.set()

    def start():
        assert stopped.wait(JOIN)
        running.start()

    def on_failure(error):
        if not starter:
            starter.append(threading.Thread(target=start))
            starter[0].start()
        discard(error)

    discard = store._discard
    try:
        fault_before_first_read(monkeypatch, stop)
        store._discard = on_failure
        out = store.load(sorted(expected), "5m", START, END)
        assert_exact(out, expected)
        assert starter
    finally:
        if starter:
            starter[0].join(JOIN)
        store.close()


@pytest.mark.slow
def test_a_server_down_past_the_budget_is_a_clear_error_and_the_store_heals_after(
        running, cluster_table, expected):
    url = f"{running.dsn}?table={cluster_table}&retry_for=1.0"
    store = open_store(url, connect_timeout=5)
    assert store.retry_for == 1.0  # from the URL
    try:
        names = sorted(expected)
        assert_exact(store.load(names, "5m", START, END), expected)
        running.stop()

        with pytest.raises(StoreUnavailableError) as caught:
            store.load(names, "5m", START, END)
        error = caught.value
        assert isinstance(error, StoreConnectionError)
        assert isinstance(error, ConnectionError)  # what the loaders call transient
        assert (error.host, error.port, error.database) == ("127.0.0.1", running.port, "postgres")
        assert error.operation == "load"
        assert error.attempts >= 2
        assert error.elapsed >= 1.0  # the whole budget was tried, and said so
        assert re.fullmatch(
            rf"couldn't load from 127\.0\.0\.1:{running.port}/postgres after "
            rf"{error.attempts} attempts in {error.elapsed:.2f} sec: .+",
            str(error),
        )
        for text in (str(error), error.url, repr(error), error.reason):
            assert running.password not in text

        # A later call may only see the pool time out: it still says what went wrong.
        with pytest.raises(StoreUnavailableError, match=r"couldn't write to 127\.0\.0\.1:") as w:
            store.write("5m", {names[0]: expected[names[0]]})
        assert "last connection error" in str(w.value)
        assert w.value.operation == "write"

        # Opening against the stopped server does not retry: it fails at once.
        with pytest.raises(StoreConnectionError) as opening:
            open_store(url, connect_timeout=5)
        assert (opening.value.host, opening.value.port) == ("127.0.0.1", running.port)
        assert running.password not in str(opening.value)

        running.start()
        # The same store object: the pool reconnects, the bars are the same.
        assert_exact(store.load(names, "5m", START, END), expected)
    finally:
        store.close()


def test_close_ends_a_load_that_is_retrying(running, cluster_table):
    store = PostgresStore(running.dsn, table=cluster_table, connect_timeout=5, retry_for=60.0)
    retrying = threading.Event()
    discard = store._discard

    def on_failure(error):
        discard(error)
        retrying.set()

    store._discard = on_failure
    outcome = []

    def load():
        try:
            store.load(["S0000"], "5m", START, END)
        except StoreError as exc:
            outcome.append(exc)

    running.stop()
    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert retrying.wait(JOIN)
        store.close()
        thread.join(JOIN)
        assert not thread.is_alive()
        assert len(outcome) == 1
        assert "was closed" in str(outcome[0])
        with pytest.raises(StoreError, match="was closed"):
            store.load(["S0000"], "5m", START, END)
    finally:
        thread.join(JOIN)
        store.close()


# -- deadlines, interrupt() and store-wide failures on a server that is down ------------

def _retrying(store):
    """An Event set at the store's first connection failure (it then retries)."""
    retrying = threading.Event()
    discard = store._discard

    def on_failure(error):
        discard(error)
        retrying.set()

    store._discard = on_failure
    return retrying


def _load_in_thread(store):
    done, outcome = threading.Event(), []

    def load():
        try:
            store.load(["S0000"], "5m", START, END)
        except BaseException as exc:  # noqa: BLE001 - checked by the caller
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread, done, outcome


def test_interrupt_ends_a_load_that_is_retrying(running, cluster_table):
    store = PostgresStore(running.dsn, table=cluster_table, connect_timeout=5,
                          retry_for=3600.0, load_timeout=3600.0)
    retrying = _retrying(store)
    running.stop()
    thread, done, outcome = _load_in_thread(store)
    try:
        assert retrying.wait(JOIN)
        store.interrupt()
        assert done.wait(JOIN), "interrupt() did not end the retrying load"
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreInterruptedError)
    finally:
        store.close()
        thread.join(JOIN)


def test_the_deadline_bounds_the_retries(running, cluster_table):
    # The retry budget is an hour; the deadline, half a second, ends the load.
    store = PostgresStore(running.dsn, table=cluster_table, connect_timeout=5,
                          retry_for=3600.0, load_timeout=0.5)
    running.stop()
    thread, done, outcome = _load_in_thread(store)
    try:
        assert done.wait(JOIN)
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreTimeoutError)
        assert outcome[0].seconds == 0.5
        assert is_store_wide(outcome[0])
        assert is_transient(outcome[0])
    finally:
        store.close()
        thread.join(JOIN)


def test_a_server_that_stays_down_is_store_wide(running, cluster_table):
    store = PostgresStore(running.dsn, table=cluster_table, connect_timeout=5, retry_for=0.5)
    running.stop()
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            store.load(["S0000"], "5m", START, END)
        assert is_store_wide(caught.value)
        assert is_transient(caught.value)
    finally:
        store.close()


def test_a_refused_login_is_store_wide(pg_dsn, shared):
    _, table = shared
    url = urlsplit(pg_dsn)._replace(netloc=f"preopen_no_such_role:pw@{urlsplit(pg_dsn).hostname}:"
                                         f"{urlsplit(pg_dsn).port or 5432}").geturl()
    with pytest.raises(StoreConnectionError) as caught:
        open_store(url, table=table, connect_timeout=5)
    assert is_store_wide(caught.value)
    assert "pw@" not in str(caught.value)
