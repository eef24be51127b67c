"""Incremental prefetch: each snapshot equals, bit for bit, the one a full load makes.

Two planners, one with ``refresh = "incremental"`` and one with ``"full"``,
run through the same simulated days against the same store, with the active
set changing between sessions. The store has gaps (symbol-sessions with no
bars, and missing bars inside sessions), bars between sessions (after
hours), the 2024-11-29 early close, and bars written for a session only
after the previous snapshot was served (the feed amends the store day by
day). Every activated snapshot of the incremental planner must equal the
full one's: the same symbols, offsets and columns in every table
(``np.array_equal``), and the same validation report.
"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import numpy as np
import pendulum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.week import NY, XNYS

from preopen.actors import Planner
from preopen.actors.loader import load_batch
from preopen.actors.messages import Activate, ListSymbols, LoadBatch, Retire
from preopen.model import Bars
from preopen.settings import Settings
from preopen.status import EventKind
from preopen.store import fingerprints_of

UNIVERSE = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
INTERVALS = ("30m", "1d")
FIRST, LAST = dt.date(2024, 11, 11), dt.date(2024, 12, 3)
DAYS = XNYS.sessions(FIRST, LAST)
HALF_HOUR = 30 * 60 * 10**9


class FeedStore:
    """An in-memory store whose rows for a session appear only once it has closed."""

    def __init__(self, rows: dict[tuple[str, str], list[tuple[int, int]]], seed: int) -> None:
        rng = np.random.default_rng(seed)
        # (symbol, interval) -> sorted ts and the session each bar belongs to.
        self.rows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for key, stamps in rows.items():
            ts = np.array([t for t, _ in stamps], np.int64)
            day = np.array([d for _, d in stamps], np.int64)
            order = np.argsort(ts, kind="stable")
            prices = rng.uniform(10.0, 20.0, ts.shape[0])
            self.rows[key] = (ts[order], day[order], prices[order])
        self.visible_until = 0  # rows of sessions closed before this ns are in the store

    def load(self, symbols, interval, start, end):
        lo, hi = int(start.timestamp() * 10**9), int(end.timestamp() * 10**9)
        out = {}
        for symbol in symbols:
            row = self.rows.get((symbol, interval))
            if row is None:
                out[symbol] = Bars.empty(symbol, interval)
                continue
            ts, day_close, prices = row
            keep = (ts >= lo) & (ts < hi) & (day_close <= self.visible_until)
            t, p = ts[keep], prices[keep]
            out[symbol] = Bars.from_arrays(symbol, interval, t, p, p + 1, p - 1, p, p * 10)
        return out

    def symbols(self):
        return tuple(sorted({s for s, _ in self.rows}))

    def fingerprints(self, symbols, interval, ranges):
        start, end = ranges[0]
        loaded = self.load(symbols, interval, start, end)
        return {s: fingerprints_of(loaded[s], ranges) for s in symbols}

    def correct(self, symbol_index: int, bar_index: int) -> None:
        """Change one price already in the store (a correction to a past session)."""
        key = (UNIVERSE[symbol_index % len(UNIVERSE)], INTERVALS[bar_index % 2])
        _, day, prices = self.rows[key]
        visible = np.flatnonzero(day <= self.visible_until)
        if visible.shape[0]:
            prices[visible[bar_index % visible.shape[0]]] += 0.25


@st.composite
def stores(draw):
    rows: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for symbol in UNIVERSE:
        for interval in INTERVALS:
            stamps: list[tuple[int, int]] = []
            for day in DAYS:
                opens, closes = XNYS.open_at(day), XNYS.close_at(day)
                o, c = opens.int_timestamp * 10**9, closes.int_timestamp * 10**9
                if draw(st.integers(0, 9)) == 0:
                    continue  # a gap: no bars for this symbol-session
                if interval == "1d":
                    bars = [o]
                else:
                    bars = list(range(o, c, HALF_HOUR))
                    if draw(st.integers(0, 3)) == 0:
                        drop = draw(st.integers(0, len(bars) - 1))
                        bars.pop(drop)  # a missing bar inside the session
                    if draw(st.integers(0, 4)) == 0:
                        bars.append(c + 3600 * 10**9)  # an after-hours bar
                stamps.extend((t, c) for t in bars)
            rows[symbol, interval] = stamps
    return FeedStore(rows, draw(st.integers(0, 2**32 - 1)))


class Driver:
    """Runs one planner against the store, answering every command at once."""

    def __init__(self, refresh: str, symbols: frozenset[str], store: FeedStore,
                 start: pendulum.DateTime, *, verify: bool = False) -> None:
        config = Settings(window_minutes=60, check_interval_minutes=60, intervals=INTERVALS,
                          trailing_days=3, loaders=2, batch_size=2, refresh=refresh,
                          verify_reused=verify)
        self.planner = Planner(config, symbols=symbols)
        self.store = store
        self.now = start
        self.activated: list = []
        self.planner.set_calendar(XNYS, start)
        self.drain()

    def drain(self) -> None:
        planner = self.planner
        while planner.outbox:
            _, command = planner.outbox.pop(0)
            match command:
                case LoadBatch(batch=batch):
                    # What a LoaderActor does with it (the check included).
                    bars, reloaded = load_batch(self.store, command)
                    planner.loaded(batch.request_id, bars, reloaded)
                case ListSymbols(request_id=request_id):
                    planner.symbols_listed(request_id, self.store.symbols())
                case Activate(snapshot=snapshot):
                    self.activated.append(snapshot)
                    planner.activated(snapshot.session, len(snapshot.symbols), 1e-6)
                case Retire():
                    pass

    def step(self, until: pendulum.DateTime) -> None:
        while True:
            wake = self.planner.next_wake(self.now)
            if wake > until:
                self.now = until
                return
            self.now = wake
            # The feed has written every session closed by now.
            self.store.visible_until = int(wake.timestamp() * 10**9)
            self.planner.tick(wake, 0.0)
            self.drain()


def same_tables(mine, full) -> None:
    assert mine.session == full.session
    assert mine.intervals == full.intervals
    assert mine.symbols == full.symbols
    for interval in full.intervals:
        a, b = mine.table(interval), full.table(interval)
        assert a.symbols == b.symbols
        assert np.array_equal(a.offsets, b.offsets)
        for x, y in zip(a.columns, b.columns, strict=True):
            assert x.dtype == y.dtype
            assert np.array_equal(x, y)
        assert np.array_equal(a.duplicates, b.duplicates)
        assert np.array_equal(a.unsorted, b.unsorted)
    assert mine.report == full.report


symbol_sets = st.frozensets(st.sampled_from(UNIVERSE), min_size=1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=stores(), sets=st.lists(symbol_sets, min_size=3, max_size=5))
def test_an_incremental_snapshot_equals_a_full_load(store, sets):
    start = pendulum.datetime(2024, 11, 24, 12, 0, tz=NY)
    incremental = Driver("incremental", sets[0], store, start)
    full = Driver("full", sets[0], store, start)
    sessions = list(XNYS.sessions(dt.date(2024, 11, 25), LAST))
    for session, symbols in zip(sessions, sets[1:], strict=False):
        # Between sessions (after the close) the active set changes.
        after = XNYS.close_at(session).add(minutes=30)
        for driver in (incremental, full):
            driver.step(after)
            driver.planner.symbols_changed(symbols, after)
            driver.drain()
    for driver in (incremental, full):
        driver.step(XNYS.close_at(sessions[len(sets) - 1]).add(minutes=30))
    assert len(incremental.activated) == len(full.activated) >= len(sets) - 1
    for mine, theirs in zip(incremental.activated, full.activated, strict=True):
        same_tables(mine, theirs)
    # Reuse did happen: a symbol active on two sessions in a row is reused.
    done = [e.detail for e in incremental.planner.status().events
            if e.kind == EventKind.PREFETCH_DONE]
    if any(a & b for a, b in pairwise(sets)):
        assert any("reused" in detail for detail in done)
    assert incremental.planner.status().bars_loaded <= full.planner.status().bars_loaded


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=stores(), symbols=symbol_sets,
       corrections=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 10**6)), max_size=4))
def test_with_verify_reused_corrections_to_past_sessions_are_picked_up(store, symbols,
                                                                       corrections):
    start = pendulum.datetime(2024, 11, 24, 12, 0, tz=NY)
    incremental = Driver("incremental", symbols, store, start, verify=True)
    full = Driver("full", symbols, store, start)
    sessions = list(XNYS.sessions(dt.date(2024, 11, 25), LAST))[:3]
    for i, session in enumerate(sessions):
        after = XNYS.close_at(session).add(minutes=30)
        for driver in (incremental, full):
            driver.step(after)
        if i == 0:
            store.visible_until = int(after.timestamp() * 10**9)
            for symbol_index, bar_index in corrections:
                store.correct(symbol_index, bar_index)
    assert len(incremental.activated) == len(full.activated) == len(sessions)
    for mine, theirs in zip(incremental.activated, full.activated, strict=True):
        same_tables(mine, theirs)
