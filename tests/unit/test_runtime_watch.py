"""The runtime with its actors, watching its store: a missing table, a hung store,
and publishing each frozen snapshot for other processes.

SimulatedClock, real SQLite files. XNYS Tuesday 2024-11-26 opens 09:30 New
York time; with the 60-minute window its prefetch starts at 08:30.
"""

from __future__ import annotations

import datetime as dt
import errno
import sqlite3
import threading

import pytest
from support.week import XNYS, at

import preopen
from preopen.clock import SimulatedClock
from preopen.errors import PreopenTimeoutError, SnapshotFileError
from preopen.model import _publish
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import seed_store

DAY = dt.date(2024, 11, 26)
WAIT = 20.0


class Counting:
    """A store that counts (and records) its load calls; may block them on an Event."""

    def __init__(self, store, gate=None):
        self._store = store
        self.url = store.url
        self.calls: list[tuple[int, str]] = []
        self._gate = gate

    def load(self, symbols, interval, start, end):
        self.calls.append((len(symbols), interval))
        if self._gate is not None and not self._gate.wait(WAIT):
            raise TimeoutError("the test's gate was never opened")
        return self._store.load(symbols, interval, start, end)

    def symbols(self):
        return self._store.symbols()

    def write(self, interval, bars):
        return self._store.write(interval, bars)

    def close(self):
        self._store.close()


@pytest.fixture
def started():
    runtimes = []

    def start(*args, **kwargs):
        runtime = Runtime.start(*args, **kwargs)
        runtimes.append(runtime)
        return runtime

    yield start
    for runtime in runtimes:
        runtime.stop(WAIT)


def test_a_missing_table_costs_one_store_call_per_batch_at_most(tmp_path, started):
    path = tmp_path / "bars.db"
    open_store(f"sqlite:///{path}", create=True).close()
    store = Counting(open_store(f"sqlite:///{path}"))
    with sqlite3.connect(path) as db:  # a migration renames the table away
        db.execute("DROP TABLE bars")
    symbols = tuple(f"S{i:04d}" for i in range(1000))
    settings = Settings(store=f"sqlite:///{path}", symbols=symbols, batch_size=100, loaders=2,
                        intervals=("1m", "1d"), max_attempts=3)
    clock = SimulatedClock(at(DAY, "08:29"))
    try:
        runtime = started(settings, clock=clock, store=store)
        clock.advance_to(at(DAY, "08:30"))
        status = runtime.wait_for(lambda s: s.prefetch_seconds is not None, timeout=WAIT)
    finally:
        store.close()
    # 1,000 symbols x 2 intervals in batches of 100: 20 batches, so at most 20 calls,
    # none of them a split half (splitting used to make thousands).
    assert 1 <= len(store.calls) <= 20
    # In fact only the batches already in flight (2 loaders x 2) call the store:
    # the first answer fails the 16 still queued without a call.
    assert len(store.calls) <= 4
    assert all(size == 100 for size, _ in store.calls)
    assert status.progress.failed == 2000
    assert status.progress.done == 0
    assert "no such table: bars" in (status.last_error or "")
    assert [e.kind for e in status.events].count(EventKind.STORE_WIDE) == 1


def test_a_hung_store_shows_as_load_stalled_and_the_load_finishes_when_it_answers(
        tmp_path, started):
    url = f"sqlite:///{tmp_path / 'bars.db'}"
    seeded = open_store(url, create=True)
    seed_store(seeded, XNYS, ["AAA", "BBB"], XNYS.trailing_sessions(DAY, 2), ["1m"])
    seeded.close()
    gate = threading.Event()
    store = Counting(open_store(url), gate)
    # load_timeout_s 0.1: a check every 0.025 s of market time. The clock waits
    # settle_timeout (0.2 s of wall time) for a tick that cannot settle while the
    # store is blocked, so by the next tick the load has waited at least that long.
    settings = Settings(store=url, symbols=("AAA", "BBB"), intervals=("1m",), trailing_days=2,
                        loaders=1, batch_size=2, load_timeout_s=0.1)
    clock = SimulatedClock(at(DAY, "08:29"), settle_timeout=0.2)
    try:
        runtime = started(settings, clock=clock, store=store)
        with pytest.raises(PreopenTimeoutError):
            clock.advance_to(at(DAY, "08:31"))
        assert runtime.status().loads_stalled == 0
        with pytest.raises(PreopenTimeoutError):
            clock.advance(dt.timedelta(seconds=1))
        status = runtime.wait_for(lambda s: s.loads_stalled == 1, timeout=WAIT)
        stalled = [e for e in status.events if e.kind is EventKind.LOAD_STALLED]
        assert len(stalled) == 1
        assert stalled[0].session == DAY
        assert stalled[0].detail.startswith(
            "load of 1m x 2 symbols from AAA (request 1, attempt 1) still waiting on the store: ")
        assert status.progress.done == 0
        gate.set()
        status = runtime.wait_for(lambda s: s.progress.done == 2, timeout=WAIT)
        assert status.loads_stalled == 1
    finally:
        gate.set()
        store.close()


@pytest.fixture
def seeded_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'bars.db'}"
    store = open_store(url, create=True)
    seed_store(store, XNYS, ["AAA", "BBB", "CCC"], XNYS.trailing_sessions(DAY, 3), ["1m", "1d"])
    store.close()
    return url


def publishing(url, directory):
    return Settings(store=url, symbols=("AAA", "BBB", "CCC"), trailing_days=3, loaders=2,
                    batch_size=2, publish_dir=str(directory), publish_keep=2)


def test_each_frozen_snapshot_is_staged_before_the_open_and_current_at_the_open(
        seeded_url, tmp_path, started):
    directory = tmp_path / "published"
    clock = SimulatedClock(at(DAY, "08:29"))
    store = open_store(seeded_url)
    follower = preopen.SnapshotFollower(directory)
    try:
        runtime = started(publishing(seeded_url, directory), clock=clock, store=store)
        clock.advance_to(at(DAY, "08:30"))
        before = runtime.wait_for(
            lambda s: any(e.kind is EventKind.PUBLISHED for e in s.events), timeout=WAIT)
        assert ["staged" in e.detail for e in before.events if e.kind is EventKind.PUBLISHED] == [
            True]
        # Before the open: staged, mapped ahead by a follower, not current for anyone.
        assert follower.prepare()
        assert follower.staged.session == DAY
        assert not (directory / "manifest.json").exists()
        with pytest.raises(SnapshotFileError, match="nothing is published"):
            preopen.attach(directory)
        assert runtime.status().snapshots_published == 0
        clock.advance_to(at(DAY, "09:30"))
        served = runtime.snapshot(timeout=WAIT)
        status = runtime.wait_for(lambda s: s.snapshots_published == 1, timeout=WAIT)
        attached = follower.snapshot()
    finally:
        follower.close()
        store.close()
    published = [e for e in status.events if e.kind is EventKind.PUBLISHED]
    assert [e.session for e in published] == [DAY, DAY]
    assert "current" in published[1].detail
    assert not (directory / "next.json").exists()
    assert served.session == attached.session == DAY
    assert attached is follower.snapshot()
    assert attached.symbols == served.symbols == ("AAA", "BBB", "CCC")
    for symbol in served.symbols:
        for interval in ("1m", "1d"):
            assert attached.bars(symbol, interval).equals(served.bars(symbol, interval))
    assert attached.report.complete
    assert status.publish_failures == 0


def test_a_publish_failure_is_in_the_status_and_the_activation_still_happens(
        seeded_url, tmp_path, started, monkeypatch):
    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_publish, "_sync", full_disk)
    directory = tmp_path / "published"
    clock = SimulatedClock(at(DAY, "08:29"))
    store = open_store(seeded_url)
    try:
        runtime = started(publishing(seeded_url, directory), clock=clock, store=store)
        clock.advance_to(at(DAY, "08:30"))
        status = runtime.wait_for(lambda s: s.publish_failures == 1, timeout=WAIT)
        clock.advance_to(at(DAY, "09:30"))
        served = runtime.snapshot(timeout=WAIT)
        after = runtime.status()
    finally:
        store.close()
    failed = [e for e in status.events if e.kind is EventKind.PUBLISH_FAILED]
    assert len(failed) == 1
    assert failed[0].session == DAY
    assert failed[0].detail.startswith("PublishError: ")
    assert "No space left on device" in failed[0].detail
    assert status.snapshots_published == 0
    assert served.session == DAY
    assert after.activations == 1
    assert after.serving == DAY
