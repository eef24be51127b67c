"""A cycle's load across the loaders, on its own: listings, orders, answers, retries.

No actor: the test reads the orders Loading leaves in the outbox and answers
them itself. Wednesday 2024-11-27's cycle (XNYS) loads its five trailing
sessions 11-20..11-26 at 1m and 1d.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from support.week import XNYS, at, grid_bars

from preopen.model import SessionSnapshot
from preopen.planning import (
    PER_LOADER,
    ChildKey,
    Cycle,
    IncrementalPrefetch,
    Journal,
    ListSymbols,
    LoadBatch,
    Loading,
    LoadWatch,
    Role,
    load_spec,
)
from preopen.settings import Settings
from preopen.status import EventKind, RuntimeStatus

DAY = dt.date(2024, 11, 27)
NOW = at(DAY, "08:30")
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
INTERVALS = ("1m", "1d")
BARS = {(s, i): grid_bars(s, i, dt.date(2024, 11, 11), dt.date(2024, 12, 3),
                          close=lambda n: np.full(n, 100.0))
        for s in (*SYMBOLS, "EEE") for i in INTERVALS}


def make(**overrides):
    values = {"loaders": 2, "batch_size": 2, "max_attempts": 2, "intervals": INTERVALS,
              "trailing_days": 5, "window_minutes": 60, "load_timeout_s": 60.0}
    settings = Settings(**{**values, **overrides})
    journal = Journal(RuntimeStatus())
    outbox = []
    loading = Loading(settings, outbox=outbox, journal=journal,
                      incremental=IncrementalPrefetch(enabled=False, verify=False),
                      watch=LoadWatch(journal, settings.load_timeout_s, lambda: 0.0))
    cycle = Cycle(load_spec(XNYS, DAY, 5, INTERVALS), NOW)
    return loading, cycle, outbox, journal


def take(outbox, kind):
    """Remove and return the orders of ``kind``, with their child keys."""
    found = [(k, m) for k, m in outbox if isinstance(m, kind)]
    outbox[:] = [(k, m) for k, m in outbox if not isinstance(m, kind)]
    return found


def answer(loading, cycle, orders):
    """Answer each LoadBatch as a loader would; whether the last answer ended the load."""
    done = False
    for _, order in orders:
        batch = order.batch
        bars = {s: BARS[s, batch.interval].between(order.start, order.end)
                for s in batch.symbols}
        done = loading.loaded(cycle, batch.request_id, bars, frozenset())
    return done


def events(journal, kind):
    return [e for e in journal.view(None, None, dt.timedelta(hours=1), None).events
            if e.kind is kind]


def test_the_active_set_s_keys_go_to_the_loaders_at_most_two_in_flight_on_each():
    loading, cycle, outbox, _ = make()
    assert loading.begin(cycle, frozenset(SYMBOLS)) is False
    assert cycle.load_started is not None
    orders = take(outbox, LoadBatch)
    assert outbox == []
    assert len(orders) == 2 * PER_LOADER  # 4 batches: 2 symbols x 2 intervals each
    assert [k for k, _ in orders] == [ChildKey(Role.LOADER, i) for i in (0, 1, 0, 1)]
    spec = cycle.spec
    for _, order in orders:
        assert (order.start, order.end, order.check) == (spec.start, spec.end, None)
    assert sorted((o.batch.interval, o.batch.symbols) for _, o in orders) == [
        ("1d", ("AAA", "BBB")), ("1d", ("CCC", "DDD")),
        ("1m", ("AAA", "BBB")), ("1m", ("CCC", "DDD"))]
    assert answer(loading, cycle, orders) is True  # the last answer ends the load
    assert cycle.load.complete
    assert cycle.load.progress.done == 8
    late = orders[0][1].batch.request_id
    assert loading.loaded(cycle, late, {}, frozenset()) is False  # a late answer: ignored


def test_a_load_dispatches_the_next_batch_as_each_answer_comes():
    loading, cycle, outbox, _ = make(loaders=1)
    loading.begin(cycle, frozenset(SYMBOLS))
    first = take(outbox, LoadBatch)
    assert len(first) == PER_LOADER
    assert answer(loading, cycle, first[:1]) is False
    assert len(take(outbox, LoadBatch)) == 1  # its next batch is queued at once


def test_an_empty_active_set_is_done_at_once():
    loading, cycle, outbox, _ = make()
    assert loading.begin(cycle, frozenset()) is True
    assert outbox == []


def test_every_symbol_is_listed_first_by_the_loaders_in_turn():
    loading, cycle, outbox, journal = make()
    assert loading.begin(cycle, None) is False
    [(key, listing)] = take(outbox, ListSymbols)
    assert key == ChildKey(Role.LOADER, 0)
    assert cycle.listing == listing.request_id
    assert loading.failed(cycle, listing.request_id, "StoreConnectionError: down", NOW,
                          transient=True, store_wide=True) is False
    assert cycle.listing is None
    assert cycle.retry_at == NOW.add(seconds=1)
    [error] = events(journal, EventKind.ERROR)
    assert error.detail == ("listing the store's symbols failed: StoreConnectionError: down, "
                            f"retrying at {NOW.add(seconds=1).isoformat()}")
    assert journal.status.last_error == error.detail
    loading.request_listing(cycle)
    [(key, listing)] = take(outbox, ListSymbols)
    assert key == ChildKey(Role.LOADER, 1)
    assert loading.listed_by_store(cycle, listing.request_id + 1, SYMBOLS) is False
    assert loading.listed is None
    assert loading.listed_by_store(cycle, listing.request_id, SYMBOLS[:2]) is False
    assert loading.listed == SYMBOLS[:2]
    assert cycle.listing is None
    orders = take(outbox, LoadBatch)
    assert {o.batch.symbols for _, o in orders} == {("AAA", "BBB")}
    assert answer(loading, cycle, orders) is True


def test_failures_are_split_then_retried_on_request():
    loading, cycle, outbox, journal = make(max_attempts=1)
    loading.begin(cycle, frozenset(SYMBOLS))
    orders = take(outbox, LoadBatch)
    _, bad = orders[0]
    assert answer(loading, cycle, orders[1:]) is False
    assert loading.failed(cycle, bad.batch.request_id, "StoreDataError: bad row", NOW,
                          transient=False, store_wide=False) is False
    assert journal.status.last_error == "StoreDataError: bad row"
    halves = take(outbox, LoadBatch)  # split in halves, sent at once
    assert sorted(o.batch.symbols for _, o in halves) == [(s,) for s in bad.batch.symbols]
    for _, half in halves:
        done = loading.failed(cycle, half.batch.request_id, "StoreDataError: bad row", NOW,
                              transient=False, store_wide=False)
    assert done is True  # done, with failures
    assert cycle.has_failures
    loading.retry(cycle, NOW)
    assert cycle.retry_at is None
    [retry] = events(journal, EventKind.RETRY)
    assert retry.detail == "retrying 2 failed keys (attempt round 1)"
    again = take(outbox, LoadBatch)
    assert [o.batch.symbols for _, o in again] == [bad.batch.symbols]
    assert answer(loading, cycle, again) is True
    assert cycle.load.complete


def test_a_store_wide_failure_that_is_not_transient_fails_the_queue_with_one_event():
    loading, cycle, outbox, journal = make(loaders=1, batch_size=1)
    loading.begin(cycle, frozenset(SYMBOLS))
    orders = take(outbox, LoadBatch)
    assert len(orders) == PER_LOADER  # 8 keys of one symbol each: 6 still queued
    request_id = orders[0][1].batch.request_id
    assert loading.failed(cycle, request_id, "StoreSchemaError: no table", NOW,
                          transient=False, store_wide=True) is False
    assert take(outbox, LoadBatch) == []  # nothing more sent
    [event] = events(journal, EventKind.STORE_WIDE)
    assert event.detail.startswith("the round fails at once (6 queued batches failed")
    request_id = orders[1][1].batch.request_id
    assert loading.failed(cycle, request_id, "StoreSchemaError: no table", NOW,
                          transient=False, store_wide=True) is True
    assert cycle.load.progress.failed == 8


def test_a_dead_loader_s_batches_go_to_the_live_one():
    loading, cycle, outbox, journal = make()
    loading.begin(cycle, frozenset(SYMBOLS))
    orders = take(outbox, LoadBatch)
    on_zero = [o for k, o in orders if k.index == 0]
    answer(loading, cycle, [(k, o) for k, o in orders if k.index == 1])
    take(outbox, LoadBatch)
    loader = ChildKey(Role.LOADER, 0)
    assert loading.loader_lost(cycle, loader, NOW) is False
    [retry] = events(journal, EventKind.RETRY)
    assert retry.detail == "2 batches of loader-0 handed to live loaders"
    resent = take(outbox, LoadBatch)
    assert sorted(o.batch.symbols for _, o in resent) == sorted(o.batch.symbols for o in on_zero)
    assert answer(loading, cycle, resent) is True
    assert loading.loader_lost(cycle, ChildKey(Role.LOADER), NOW) is False  # no index


def test_a_changed_active_set_loads_what_is_new_or_asks_for_a_freeze():
    loading, cycle, outbox, journal = make()
    loading.begin(cycle, frozenset(SYMBOLS))
    assert answer(loading, cycle, take(outbox, LoadBatch)) is True
    cycle.freeze(cycle.load.data(SYMBOLS), XNYS, NOW)
    # Fewer symbols: nothing to load, the snapshot no longer what is wanted.
    assert loading.add(cycle, SYMBOLS[:3], NOW) is True
    # The same symbols: nothing to do.
    assert loading.add(cycle, SYMBOLS, NOW) is False
    assert events(journal, EventKind.SYMBOLS) == []
    # A new symbol: its keys are loaded.
    assert loading.add(cycle, (*SYMBOLS, "EEE"), NOW) is False
    [added] = events(journal, EventKind.SYMBOLS)
    assert added.detail == "2 keys added to the load"
    orders = take(outbox, LoadBatch)
    assert {o.batch.symbols for _, o in orders} == {("EEE",)}
    assert answer(loading, cycle, orders) is True


def test_an_adopted_snapshot_counts_as_loaded_and_only_what_it_lacks_is_loaded():
    loading, cycle, outbox, _ = make()
    spec = cycle.spec
    data = {(s, i): BARS[s, i].between(spec.start, spec.end) for s in SYMBOLS for i in INTERVALS}
    served = SessionSnapshot.assemble(DAY, spec.open, spec.close, data, XNYS, spec.trailing,
                                      INTERVALS, NOW)
    loading.adopt(cycle, served.data, frozenset(SYMBOLS))
    assert outbox == []
    assert cycle.load.done
    assert cycle.load.bars_loaded == 0  # loaded once already, by the earlier incarnation
    loading.adopt(cycle, served.data, frozenset({*SYMBOLS, "EEE"}))
    assert {o.batch.symbols for _, o in take(outbox, LoadBatch)} == {("EEE",)}
    loading.adopt(cycle, served.data, None)  # every symbol: list the store first
    assert len(take(outbox, ListSymbols)) == 1


def test_a_host_loads_only_its_shard_s_symbols():
    loading, cycle, outbox, _ = make(shard="1/2")
    names = [f"S{i:02d}" for i in range(40)]
    loading.begin(cycle, frozenset(names))
    while orders := take(outbox, LoadBatch):
        for _, order in orders:
            loading.loaded(cycle, order.batch.request_id, {}, frozenset())
    mine = cycle.load.symbols()
    assert 0 < len(mine) < len(names)
    assert mine == {s for s in names if Settings(shard="1/2").shard_or_none.keeps(s)}
