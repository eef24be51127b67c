"""A PostgreSQL outage in the middle of a prefetch of 1,000 symbols.

On the shared server the outage is ``pg_terminate_backend`` of the store's
own backends (found by their application_name); on the throwaway cluster of
``pg_cluster`` it is a real server restart. Either is injected from the
loader's thread before a chosen load, so it certainly lands mid-prefetch.
The prefetch must complete with every symbol, bars equal to those written,
and no duplicate bar.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import numpy as np
import pytest
from _faulty import FaultyStore
from _world import WAIT, Started, settings
from support.week import XNYS, at

from preopen.clock import SimulatedClock
from preopen.store import open_store
from preopen.store.synthetic import symbol_names, synthetic_bars

pytestmark = pytest.mark.postgres

DAY = dt.date(2024, 11, 26)
TRAILING = (dt.date(2024, 11, 22), dt.date(2024, 11, 25))  # answer data
COUNT = 1000
NAMES = tuple(symbol_names(COUNT))


@pytest.fixture(scope="module")
def written():
    return synthetic_bars(COUNT, XNYS, TRAILING, "5m", seed=11)


def seed(dsn, table, bars):
    store = open_store(dsn, table=table, create=True, connect_timeout=5)
    try:
        store.write("5m", bars)
    finally:
        store.close()


def run_prefetch(url, store):
    """Run DAY's window with a SimulatedClock; return the snapshot prepared before the open."""
    started = Started()
    try:
        clock = SimulatedClock(at(DAY, "08:29"))
        runtime = started(settings(url, symbols=NAMES, batch_size=100, loaders=2),
                          clock=clock, store=store)
        clock.advance_to(at(DAY, "08:30"))
        # A load that still fails after the store's own retries is retried by the
        # scheduler with backoff, in the window's simulated time.
        clock.advance_to(at(DAY, "09:29"))
        runtime.settle(timeout=WAIT)
        status = runtime.status()
        clock.advance_to(at(DAY, "09:30"))
        runtime.settle(timeout=WAIT)
        return runtime.snapshot(), status
    finally:
        # The pool's own threads belong to the store: checked once it is closed.
        started.stop_all(check_threads=False)


def assert_every_symbol_once(snapshot, status, written):
    assert status.progress.done == COUNT
    assert status.failed_symbols == ()
    assert status.fallbacks == 0  # complete before the open
    assert snapshot.symbols == NAMES
    assert snapshot.report.complete
    for name in NAMES:
        bars = snapshot.bars(name, "5m")
        assert bars.equals(written[name]), name
        assert not bars.repairs, name  # no duplicate or unsorted row came back
        assert bool(np.all(np.diff(bars.ts) > 0)), name
    assert status.bars_loaded >= COUNT * 2 * 78


def test_backends_terminated_mid_prefetch(pg_dsn, pg_schema, backends, written):
    before = set(threading.enumerate())
    table = f"{pg_schema}.prefetch_{uuid.uuid4().hex[:8]}"
    seed(pg_dsn, table, written)
    name = backends.name()
    inner = open_store(backends.named(pg_dsn, name), table=table, pool_size=2, connect_timeout=5)
    terminated: list[int] = []

    def outage(number):
        if number in (3, 6):  # twice, mid-prefetch (10 batches of 100 symbols)
            terminated.append(backends.terminate(pg_dsn, name))

    try:
        snapshot, status = run_prefetch(inner.url, FaultyStore(inner, before_load=outage))
    finally:
        inner.close()
    assert set(threading.enumerate()) <= before
    assert len(terminated) == 2
    assert sum(terminated) >= 1  # the fault did land on live backends
    assert_every_symbol_once(snapshot, status, written)


@pytest.mark.slow
def test_a_server_restart_mid_prefetch(pg_cluster, written):
    before = set(threading.enumerate())
    table = f"prefetch_{uuid.uuid4().hex[:8]}"
    seed(pg_cluster.dsn, table, written)
    inner = open_store(pg_cluster.dsn, table=table, pool_size=2, connect_timeout=5)
    restarts: list[int] = []
    lock = threading.Lock()

    def outage(number):
        if number == 4:
            with lock:
                pg_cluster.restart()
                restarts.append(number)

    try:
        snapshot, status = run_prefetch(inner.url, FaultyStore(inner, before_load=outage))
    finally:
        inner.close()
        if not pg_cluster.is_running():
            pg_cluster.start()
    assert set(threading.enumerate()) <= before
    assert restarts == [4]
    assert_every_symbol_once(snapshot, status, written)
