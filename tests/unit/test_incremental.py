"""Incremental prefetch: what the second session loads, the model side of reuse, and the
planner's side (IncrementalPrefetch) on its own."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pendulum
import pytest
from support.week import NY, TRAILING_5, XNYS, at, grid_bars

from preopen.actors import Planner
from preopen.actors.loader import load_batch
from preopen.actors.messages import Activate, LoadBatch
from preopen.errors import BarsError, SettingsError
from preopen.model import Bars, BarTable, SessionSnapshot, assemble_tables, reuse_bars, to_ns
from preopen.planning import Cycle, IncrementalPrefetch, Prefetch, load_spec
from preopen.settings import Settings
from preopen.status import EventKind
from preopen.store import fingerprints_of

SYMBOLS = ("AAA", "BBB", "CCC")
NOV25, NOV26 = dt.date(2024, 11, 25), dt.date(2024, 11, 26)


class CountingStore:
    """1m and 1d bars on every session; records each load's symbols and range."""

    def __init__(self, symbols):
        self.data = {}
        for interval in ("1m", "1d"):
            for i, symbol in enumerate(symbols):
                self.data[symbol, interval] = grid_bars(
                    symbol, interval, dt.date(2024, 11, 11), dt.date(2024, 12, 3),
                    close=lambda n, i=i: np.linspace(100.0 + i, 200.0 + i, n))
        self.calls = []

    def load(self, symbols, interval, start, end):
        out = {s: self.data[s, interval].between(start, end) for s in symbols}
        self.calls.append((tuple(symbols), interval, start, end, sum(map(len, out.values()))))
        return out


def run(planner, store, start, until):
    """Tick the planner from ``start`` to ``until``, answering at once; the activations."""
    now, activated = start, []
    planner.set_calendar(XNYS, now)
    while True:
        while planner.outbox:
            _, command = planner.outbox.pop(0)
            if isinstance(command, LoadBatch):
                # What a LoaderActor does with it.
                bars, reloaded = load_batch(store, command)
                planner.loaded(command.batch.request_id, bars, reloaded)
            elif isinstance(command, Activate):
                activated.append(command.snapshot)
                planner.activated(command.snapshot.session, command.symbols, 1e-6)
        wake = planner.next_wake(now)
        if wake > until:
            return activated
        now = wake
        planner.tick(now, 0.0)


def settings(**overrides):
    values = {"check_interval_minutes": 60, "intervals": ("1m", "1d"), "trailing_days": 5,
              "batch_size": 2}
    values.update(overrides)
    return Settings(**values)


def test_the_second_session_loads_only_its_newest_session_and_new_symbols_in_full():
    store = CountingStore((*SYMBOLS, "DDD"))
    planner = Planner(settings(), symbols=frozenset(SYMBOLS))
    start = pendulum.datetime(2024, 11, 24, 12, 0, tz=NY)
    first = run(planner, store, start, at(NOV25, "16:30"))
    assert [s.session for s in first] == [NOV25]
    calls_first = len(store.calls)
    planner.symbols_changed(frozenset({*SYMBOLS, "DDD"}), at(NOV25, "16:30"))
    second = run(planner, store, at(NOV25, "16:30"), at(NOV26, "10:00"))
    assert [s.session for s in second] == [NOV26]
    later = store.calls[calls_first:]
    trailing = TRAILING_5[NOV26]
    full_start, end = XNYS.open_at(trailing[0]), XNYS.close_at(trailing[-1])
    served_end = XNYS.close_at(TRAILING_5[NOV25][-1])  # 11-22's close
    by_start = {}
    for symbols, interval, start_at, end_at, nbars in later:
        assert end_at == end
        for symbol in symbols:
            by_start[symbol, interval] = (start_at, nbars)
    # Served symbols: only [11-22 close, 11-25 close), i.e. the session of 11-25.
    for symbol in SYMBOLS:
        assert by_start[symbol, "1m"][0] == served_end
        assert by_start[symbol, "1d"][0] == served_end
    # The new symbol: the whole range.
    assert by_start["DDD", "1m"][0] == full_start
    assert by_start["DDD", "1d"][0] == full_start
    loaded = sum(call[-1] for call in later)
    assert loaded == 3 * (390 + 1) + (5 * 390 + 5)
    assert planner.status().bars_loaded == 3 * (5 * 390 + 5) + loaded
    # And the snapshot is the store's bars over the whole range.
    snapshot = second[0]
    for symbol in (*SYMBOLS, "DDD"):
        for interval in ("1m", "1d"):
            assert snapshot.bars(symbol, interval).equals(
                store.data[symbol, interval].between(full_start, end))


def test_refresh_full_reloads_every_trailing_session():
    store = CountingStore(SYMBOLS)
    planner = Planner(settings(refresh="full"), symbols=frozenset(SYMBOLS))
    run(planner, store, pendulum.datetime(2024, 11, 24, 12, 0, tz=NY), at(NOV26, "10:00"))
    starts = {call[2] for call in store.calls}
    assert starts == {XNYS.open_at(TRAILING_5[NOV25][0]), XNYS.open_at(TRAILING_5[NOV26][0])}
    assert planner.status().bars_loaded == 2 * 3 * (5 * 390 + 5)


def test_a_restarted_planner_loads_in_full_even_with_a_served_snapshot():
    store = CountingStore(SYMBOLS)
    planner = Planner(settings(), symbols=frozenset(SYMBOLS))
    first = run(planner, store, pendulum.datetime(2024, 11, 24, 12, 0, tz=NY), at(NOV25, "16:30"))
    store.calls.clear()
    again = Planner(settings(), symbols=frozenset(SYMBOLS), served=first[0])
    run(again, store, at(NOV25, "16:30"), at(NOV26, "10:00"))
    assert {call[2] for call in store.calls} == {XNYS.open_at(TRAILING_5[NOV26][0])}


def test_refresh_is_validated():
    with pytest.raises(SettingsError) as info:
        Settings(refresh="partial")
    assert "refresh" in str(info.value)
    assert "partial" in str(info.value)
    assert "incremental or full" in str(info.value)


def _snapshot(data):
    return SessionSnapshot(NOV26, at(NOV26, "09:30"), at(NOV26, "16:00"), data)


def test_reuse_bars_are_views_of_the_range_and_skip_repaired_symbols():
    ts = np.arange(10, dtype=np.int64) * 100
    prices = np.arange(10, dtype=np.float64)
    clean = Bars.from_arrays("AAA", "1m", ts, prices, prices, prices, prices, prices)
    twice = np.concatenate([ts, ts[:1]])
    p2 = np.concatenate([prices, prices[:1]])
    repaired = Bars.from_arrays("BBB", "1m", twice, p2, p2, p2, p2, p2)
    assert repaired.repairs.duplicates_dropped == 1
    served = _snapshot({("AAA", "1m"): clean, ("BBB", "1m"): repaired})
    reused = reuse_bars(served, 300, 700, ["AAA", "BBB", "ZZZ"], ["1m", "5m"])
    assert list(reused) == [("AAA", "1m")]
    bars = reused["AAA", "1m"]
    assert bars.ts.tolist() == [300, 400, 500, 600]
    assert np.shares_memory(bars.close, served.table("1m").close)


def test_assembled_tables_equal_a_full_tables_and_refuse_an_overlap():
    ts = np.arange(10, dtype=np.int64) * 100
    prices = np.linspace(1.0, 2.0, 10)
    whole = Bars.from_arrays("AAA", "1m", ts, prices, prices, prices, prices, prices)
    head, tail = whole.slice(0, 6), whole.slice(6, 10)
    other = Bars.from_arrays("BBB", "1m", ts[:3], prices[:3], prices[:3], prices[:3],
                             prices[:3], prices[:3])
    tables = assemble_tables({("AAA", "1m"): tail, ("BBB", "1m"): other},
                             {("AAA", "1m"): head, ("CCC", "1m"): head})
    expected = BarTable.from_bars("1m", {"AAA": whole, "BBB": other})
    assert tables["1m"].equals(expected)
    assert tables["1m"].symbols == ("AAA", "BBB")
    with pytest.raises(BarsError, match="not after the reused ones"):
        assemble_tables({("AAA", "1m"): whole}, {("AAA", "1m"): head})


class FingerprintingStore(CountingStore):
    """A CountingStore that also answers ``fingerprints`` (as PostgreSQL and SQLite do)."""

    def __init__(self, symbols):
        super().__init__(symbols)
        self.checked = []

    def fingerprints(self, symbols, interval, ranges):
        self.checked.append((tuple(symbols), interval, tuple(ranges)))
        return {s: fingerprints_of(self.data[s, interval], ranges) for s in symbols}

    def correct(self, symbol, interval, day):
        """Change one close of ``day`` (a correction to a past session)."""
        bars = self.data[symbol, interval]
        i = int(np.searchsorted(bars.ts, to_ns(XNYS.open_at(day))))
        close = bars.close.copy()
        close[i] += 0.5
        self.data[symbol, interval] = Bars.from_arrays(
            symbol, interval, bars.ts, bars.open, bars.high, bars.low, close, bars.volume)


@pytest.mark.parametrize("verify", [True, False])
def test_verify_reused_reloads_only_the_symbols_corrected_in_the_store(verify):
    store = FingerprintingStore(SYMBOLS)
    planner = Planner(settings(verify_reused=verify), symbols=frozenset(SYMBOLS))
    run(planner, store, pendulum.datetime(2024, 11, 24, 12, 0, tz=NY), at(NOV25, "16:30"))
    corrected_day = TRAILING_5[NOV26][1]  # reused from the served snapshot
    store.correct("BBB", "1m", corrected_day)
    store.calls.clear()
    second = run(planner, store, at(NOV25, "16:30"), at(NOV26, "10:00"))
    trailing = TRAILING_5[NOV26]
    full_start, end = XNYS.open_at(trailing[0]), XNYS.close_at(trailing[-1])
    fresh = store.data["BBB", "1m"].between(full_start, end)
    kept = second[0].bars("BBB", "1m")
    full_loads = {(s, i) for symbols, i, start, _, _ in store.calls if start == full_start
                  for s in symbols}
    if verify:
        assert kept.equals(fresh)
        assert full_loads == {("BBB", "1m")}
        assert store.checked
        done = [e.detail for e in planner.status().events if e.kind == EventKind.PREFETCH_DONE]
        assert "1 corrected in the store" in done[-1]
    else:
        assert not kept.equals(fresh)  # the correction is not seen without the check
        assert full_loads == set()
        assert not store.checked
    for symbol in ("AAA", "CCC"):
        assert second[0].bars(symbol, "1m").equals(
            store.data[symbol, "1m"].between(full_start, end))


def test_a_store_without_fingerprints_is_not_checked():
    store = CountingStore(SYMBOLS)  # no fingerprints method: a host's own store
    planner = Planner(settings(verify_reused=True), symbols=frozenset(SYMBOLS))
    run(planner, store, pendulum.datetime(2024, 11, 24, 12, 0, tz=NY), at(NOV25, "16:30"))
    second = run(planner, store, at(NOV25, "16:30"), at(NOV26, "10:00"))
    assert second[0].report.complete


# --- the planner's side, on its own: IncrementalPrefetch -------------------------


def _served_cycle(store, day, symbols=SYMBOLS):
    """A closing cycle of ``day`` that froze and served the store's bars of ``symbols``."""
    spec = load_spec(XNYS, day, 5, ("1m", "1d"))
    data = {(s, i): store.data[s, i].between(spec.start, spec.end)
            for s in symbols for i in spec.intervals}
    cycle = Cycle(spec, XNYS.open_at(day))
    cycle.served = SessionSnapshot.assemble(day, spec.open, spec.close, data, XNYS,
                                            spec.trailing, spec.intervals, spec.open)
    return cycle


def _next_cycle(day=NOV26):
    return Cycle(load_spec(XNYS, day, 5, ("1m", "1d")), XNYS.open_at(day))


def test_the_served_snapshot_is_remembered_for_the_next_load_only():
    store = CountingStore(SYMBOLS)
    incremental = IncrementalPrefetch(enabled=True, verify=False)
    incremental.remember(_served_cycle(store, NOV25))
    cycle = _next_cycle()
    incremental.plan(cycle, SYMBOLS)
    assert cycle.reuse is not None
    assert cycle.reuse.split == XNYS.close_at(TRAILING_5[NOV25][-1])
    assert cycle.reuse.keys == 2 * len(SYMBOLS)
    assert cycle.reuse.sessions == TRAILING_5[NOV26][:-1]
    later = _next_cycle()
    incremental.plan(later, SYMBOLS)  # used once: a second load of the cycle starts in full
    assert later.reuse is None


@pytest.mark.parametrize("case", ["full", "adopted", "not served"])
def test_nothing_is_reused_with_refresh_full_or_from_an_adopted_or_unserved_snapshot(case):
    store = CountingStore(SYMBOLS)
    incremental = IncrementalPrefetch(enabled=case != "full", verify=False)
    closing = _served_cycle(store, NOV25)
    closing.adopted = case == "adopted"
    if case == "not served":
        closing.served = None
    incremental.remember(closing)
    cycle = _next_cycle()
    incremental.plan(cycle, SYMBOLS)
    assert cycle.reuse is None


def test_reused_keys_are_queued_from_the_split_and_others_in_full():
    store = CountingStore((*SYMBOLS, "DDD"))
    incremental = IncrementalPrefetch(enabled=True, verify=False)
    incremental.remember(_served_cycle(store, NOV25))
    cycle = _next_cycle()
    wanted = (*SYMBOLS, "DDD")
    incremental.plan(cycle, wanted)
    load = Prefetch(loaders=1, batch_size=10, max_attempts=1, empty=Bars.empty, per_loader=8)
    assert incremental.add(cycle, load, wanted) == 8
    starts = {(b.interval, b.symbols): b.start for _, b in load.dispatch()}
    split = cycle.reuse.split
    assert starts == {("1m", SYMBOLS): split, ("1d", SYMBOLS): split,
                      ("1m", ("DDD",)): None, ("1d", ("DDD",)): None}
    plain = Prefetch(loaders=1, batch_size=10, max_attempts=1, empty=Bars.empty, per_loader=8)
    assert incremental.add(_next_cycle(), plain, wanted) == 8  # no reuse: all in full
    assert {b.start for _, b in plain.dispatch()} == {None}


def test_a_batch_of_reused_keys_carries_a_check_only_with_verify_reused():
    store = CountingStore((*SYMBOLS, "DDD"))
    checking = IncrementalPrefetch(enabled=True, verify=True)
    checking.remember(_served_cycle(store, NOV25))
    cycle = _next_cycle()
    checking.plan(cycle, (*SYMBOLS, "DDD"))
    load = Prefetch(loaders=1, batch_size=10, max_attempts=1, empty=Bars.empty, per_loader=8)
    checking.add(cycle, load, (*SYMBOLS, "DDD"))
    batches = {(b.interval, b.symbols): b for _, b in load.dispatch()}
    check = checking.check(cycle, batches["1m", SYMBOLS])
    assert check is not None
    assert check.full_start == cycle.spec.start
    assert sorted(check.reused) == list(SYMBOLS)
    assert check.reused["AAA"] is cycle.reuse.bars["AAA", "1m"]
    assert checking.check(cycle, batches["1m", ("DDD",)]) is None  # loaded in full
    unchecked = IncrementalPrefetch(enabled=True, verify=False)
    assert unchecked.check(cycle, batches["1m", SYMBOLS]) is None


def test_symbols_found_corrected_lose_their_reused_bars():
    store = CountingStore(SYMBOLS)
    incremental = IncrementalPrefetch(enabled=True, verify=True)
    incremental.remember(_served_cycle(store, NOV25))
    cycle = _next_cycle()
    incremental.plan(cycle, SYMBOLS)
    cycle.load = load = Prefetch(loaders=1, batch_size=10, max_attempts=1, empty=Bars.empty,
                                 per_loader=8)
    incremental.add(cycle, load, SYMBOLS)
    batches = {b.interval: b for _, b in load.dispatch()}
    incremental.drop(cycle, batches["1m"].request_id, frozenset())  # nothing reloaded
    assert cycle.reuse.corrected == 0
    incremental.drop(cycle, batches["1m"].request_id, frozenset({"BBB"}))
    assert ("BBB", "1m") not in cycle.reuse.bars
    assert ("BBB", "1d") in cycle.reuse.bars
    assert cycle.reuse.corrected == 1
    assert "1 corrected in the store" in cycle.reuse.describe()
