"""Loaders that fail or die mid-prefetch: every symbol still arrives, no restart is miscounted.

The store is the real SQLite store behind a FaultyStore; hypothesis chooses
which of the prefetch's first-try batches fail and how (a data error, a
dropped connection, or the loader's actor killed mid-batch). The expected
snapshot is the one a fault-free run builds, and its bars are the synthetic
bars written into the store.
"""

from __future__ import annotations

import datetime as dt

import pytest
from _faulty import Fault, FaultyStore
from _world import WAIT, Started, seed_sqlite, settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support.week import XNYS, at

from preopen.clock import SimulatedClock
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import symbol_names

DAY = dt.date(2024, 11, 26)
TRAILING = (dt.date(2024, 11, 22), dt.date(2024, 11, 25))  # answer data: the 2 sessions before
COUNT = 40
BATCH = 4
NAMES = tuple(symbol_names(COUNT))
# The prefetch's first-try batches: the sorted symbols cut into fours.
BATCHES = tuple(NAMES[i : i + BATCH] for i in range(0, COUNT, BATCH))
WORLD: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def world(tmp_path_factory):
    url, written = seed_sqlite(tmp_path_factory.mktemp("loader-faults") / "bars.db", COUNT)
    store = open_store(url, create=True)
    WORLD.update(url=url, written=written["5m"], store=store)
    yield
    store.close()
    WORLD.clear()


def prefetch(store, until="08:30", **overrides):
    """Run the window and the open of DAY; return (snapshot, status) and stop the runtime.

    ``until``: how far into the window ``before_open`` is read.
    """
    started = Started()
    try:
        clock = SimulatedClock(at(DAY, "08:29"))
        runtime = started(settings(WORLD["url"], **overrides), clock=clock, store=store)
        clock.advance_to(at(DAY, "08:30"))
        clock.advance_to(at(DAY, until))
        before_open = runtime.settle(timeout=WAIT)
        clock.advance_to(at(DAY, "09:30"))
        runtime.settle(timeout=WAIT)
        return runtime.snapshot(timeout=WAIT), before_open, runtime.status()
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def reference():
    snapshot, _, status = prefetch(WORLD["store"])
    assert status.restarts == 0
    return snapshot


def test_the_fault_free_snapshot_holds_the_bars_written(reference):
    assert reference.session == DAY
    assert reference.symbols == NAMES
    assert reference.report.complete
    start, end = XNYS.open_at(TRAILING[0]), XNYS.close_at(TRAILING[-1])
    for name in NAMES:
        assert reference.bars(name, "5m").equals(WORLD["written"][name].between(start, end))
        assert len(reference.bars(name, "5m")) == 2 * 78  # answer: 09:30-16:00 in 5 minutes


faults = st.dictionaries(
    st.sampled_from(BATCHES), st.sampled_from(list(Fault)), max_size=len(BATCHES)
)


@pytest.mark.slow
@hsettings(max_examples=20, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=faults)
def test_failing_and_dying_loaders_lose_no_symbol(reference, plan):
    store = FaultyStore(WORLD["store"], plan={(b, "5m"): f for b, f in plan.items()})
    # A short period: each death is restarted at once, so the example stays quick;
    # the intensity is tested by the restart storm.
    # A lost connection is store-wide: its batch is retried on the backoff (a
    # second later), not in place; a minute into the window covers it.
    snapshot, before_open, status = prefetch(store, "08:31", restart_period_s=0.001)
    # Every planned fault was met exactly once.
    assert sorted(store.injected.faults) == sorted((f, (b, "5m")) for b, f in plan.items())
    assert before_open.progress.done == COUNT
    assert before_open.failed_symbols == ()
    assert snapshot == reference
    kills = sum(1 for f in plan.values() if f is Fault.KILL)
    assert status.restarts == kills
    restarted = [e for e in status.events if e.kind is EventKind.RESTART]
    assert len(restarted) == kills
    assert all(e.detail.startswith("loader-") for e in restarted)
    assert status.fallbacks == 0


def test_a_loader_killed_mid_batch_is_replaced_and_its_batch_reloaded(reference):
    plan = {(BATCHES[0], "5m"): Fault.KILL, (BATCHES[5], "5m"): Fault.KILL}
    store = FaultyStore(WORLD["store"], plan=plan)
    snapshot, before_open, status = prefetch(store)
    assert store.injected.count(Fault.KILL) == 2
    assert before_open.progress.done == COUNT
    assert snapshot == reference
    assert status.restarts == 2
    assert "LoaderKilledError: injected death" in (status.last_error or "")
    retries = [e for e in status.events if e.kind is EventKind.RETRY]
    assert len(retries) == 2
    assert all("handed to live loaders" in e.detail for e in retries)


def test_only_the_batch_that_killed_its_loader_spends_an_attempt(reference):
    # One attempt per batch: the killer's symbols fail, but the batch queued
    # behind it on the same loader (dispatch: loader-0 gets batches 0 and 2)
    # never started, so it is re-sent without losing its only attempt.
    store = FaultyStore(WORLD["store"], plan={(BATCHES[0], "5m"): Fault.KILL})
    _, before_open, status = prefetch(store, max_attempts=1)
    assert before_open.failed_symbols == BATCHES[0]
    assert before_open.progress.done == COUNT - BATCH
    assert status.restarts == 1
