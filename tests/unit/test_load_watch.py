"""The planner's watch on its loads, on its own: stalls and store-wide failures as events."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

from support.week import XNYS, at

from preopen.model import Bars
from preopen.planning import Cycle, Journal, LoadWatch, Prefetch, load_spec
from preopen.settings import Settings
from preopen.status import EventKind, RuntimeStatus

DAY = dt.date(2024, 11, 27)
NOW = at(DAY, "08:30")


class WallClock:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def cycle_in_flight(wall, symbols=("AAA", "BBB", "CCC", "DDD")):
    """A cycle whose load has every batch (two symbols each) in flight since ``wall.now``."""
    cycle = Cycle(load_spec(XNYS, DAY, 5, ("1m",)), at(DAY, "08:30"))
    load = Prefetch(loaders=2, batch_size=2, max_attempts=2, empty=Bars.empty,
                    ids=itertools.count(1))
    load.add(symbols, ("1m",))
    load.dispatch(wall())
    cycle.load = load
    return cycle


def events(journal, kind):
    return [e for e in journal.view(NOW, None, dt.timedelta(hours=1), None).events
            if e.kind is kind]


def test_a_quarter_of_the_load_deadline_is_a_stall():
    journal = Journal(RuntimeStatus())
    assert LoadWatch(journal, Settings(load_timeout_s=60.0).load_timeout_s).stall_after == 15.0
    assert LoadWatch(journal, 8.0).stall_after == 2.0


def test_it_asks_for_a_look_every_stall_after_only_while_loads_are_in_flight():
    wall = WallClock()
    watch = LoadWatch(Journal(RuntimeStatus()), 60.0, wall)
    cycle = cycle_in_flight(wall)
    assert watch.next_look(NOW, cycle) == NOW.add(seconds=15)
    assert watch.next_look(NOW, None) is None
    assert watch.next_look(NOW, Cycle(cycle.spec, cycle.prefetch_start)) is None  # no load
    for request_id in (1, 2):
        cycle.load.loaded(request_id, {})
    assert watch.next_look(NOW, cycle) is None
    assert watch.wall is wall  # dispatches are stamped with the watch's wall clock


def test_a_stalled_batch_is_reported_once_then_each_time_its_wait_doubles(caplog):
    wall = WallClock()
    journal = Journal(RuntimeStatus())
    watch = LoadWatch(journal, 60.0, wall)
    cycle = cycle_in_flight(wall)
    wall.now += 14.0
    watch.check(NOW, cycle)
    assert events(journal, EventKind.LOAD_STALLED) == []
    wall.now += 2.5
    with caplog.at_level(logging.WARNING, logger="preopen"):
        watch.check(NOW, cycle)
    stalled = events(journal, EventKind.LOAD_STALLED)
    waiting = "still waiting on the store: 16.5 sec (deadline 60 sec)"
    assert [e.detail for e in stalled] == [
        f"load of 1m x 2 symbols from AAA (request 1, attempt 1) {waiting}",
        f"load of 1m x 2 symbols from CCC (request 2, attempt 1) {waiting}",
    ]
    assert all(e.session == DAY for e in stalled)
    assert [r.getMessage() for r in caplog.records] == [
        f"load-stalled: {e.detail}" for e in stalled]
    wall.now += 10.0  # 26.5 s: not yet twice 16.5
    watch.check(NOW, cycle)
    assert len(events(journal, EventKind.LOAD_STALLED)) == 2
    wall.now += 7.0  # 33.5 s
    watch.check(NOW, cycle)
    assert len(events(journal, EventKind.LOAD_STALLED)) == 4
    assert cycle.load.batches_stalled == 2
    watch.check(NOW, None)  # no cycle: nothing to look at
    assert len(events(journal, EventKind.LOAD_STALLED)) == 4


def test_a_batch_failing_after_a_stall_no_check_saw_is_reported_before_its_failure():
    wall = WallClock()
    journal = Journal(RuntimeStatus())
    watch = LoadWatch(journal, 60.0, wall)
    cycle = cycle_in_flight(wall)
    wall.now += 5.0
    watch.failing(NOW, cycle, 1)  # failed early: no stall
    assert events(journal, EventKind.LOAD_STALLED) == []
    wall.now += 55.0
    watch.failing(NOW, cycle, 2)
    [stalled] = events(journal, EventKind.LOAD_STALLED)
    assert stalled.detail == ("load of 1m x 2 symbols from CCC (request 2, attempt 1) "
                              "failed after waiting: 60.0 sec (deadline 60 sec)")
    watch.failing(NOW, cycle, 2)  # reported once
    assert len(events(journal, EventKind.LOAD_STALLED)) == 1
    watch.failing(NOW, Cycle(cycle.spec, cycle.prefetch_start), 2)  # no load: nothing
    assert len(events(journal, EventKind.LOAD_STALLED)) == 1


def test_a_store_wide_failure_that_is_not_transient_ends_the_round_with_one_event():
    journal = Journal(RuntimeStatus())
    watch = LoadWatch(journal, 60.0)
    cycle = Cycle(load_spec(XNYS, DAY, 5, ("1m",)), at(DAY, "08:30"))
    watch.store_wide(NOW, cycle, "StoreSchemaError: no table", 3, transient=True)
    watch.store_wide(NOW, cycle, "StoreSchemaError: no table", 0, transient=False)
    assert events(journal, EventKind.STORE_WIDE) == []
    watch.store_wide(NOW, cycle, "StoreSchemaError: no table", 3, transient=False)
    [event] = events(journal, EventKind.STORE_WIDE)
    assert event.session == DAY
    assert event.detail == ("the round fails at once (3 queued batches failed without a store "
                            "call), retried on the backoff: StoreSchemaError: no table")
