"""Two processes on loopback: a hub in a child process, a host here.

Whatever the hub does (killed in the middle of a transfer, restarted,
unreachable from the start, serving a stale session, a corrupt stream, too
slow), the host ends with a complete snapshot from somewhere (the fallback
store), or a clear reason at the open.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import socket

import pytest
from flight_support import INTERVALS, SESSION, SYMBOLS, HubProcess, hub_settings, seed
from support.week import XNYS, at

from preopen.clock import SimulatedClock
from preopen.errors import StoreConnectionError
from preopen.runtime import Runtime
from preopen.shard import Shard
from preopen.store import open_store

pytest.importorskip("pyarrow.flight")

TRAILING = XNYS.trailing_sessions(SESSION, 5)
START = XNYS.open_at(TRAILING[0])
END = XNYS.close_at(TRAILING[-1])
WAIT = 60.0


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    return seed(tmp_path_factory.mktemp("faults") / "bars.db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_host(stores, **more):
    """A host runtime through the window and the open of SESSION; its snapshot and status."""
    clock = SimulatedClock(at(SESSION, "08:00"))
    settings = hub_settings(stores if isinstance(stores, str) else tuple(stores), **more)
    with Runtime.start(settings, clock=clock) as runtime:
        clock.advance(dt.timedelta(0))
        clock.advance_to(at(SESSION, "08:31"))
        runtime.wait_for(lambda s: s.prefetch_seconds is not None and s.progress.pending == 0,
                         timeout=WAIT)
        clock.advance_to(at(SESSION, "09:30"))
        status = runtime.wait_for(lambda s: s.serving == SESSION or s.fallbacks > 0,
                                  timeout=WAIT)
        snapshot = runtime.snapshot() if status.serving == SESSION else None
        return snapshot, runtime.status()


def assert_complete(snapshot, symbols=SYMBOLS):
    assert snapshot is not None
    assert snapshot.session == SESSION
    assert snapshot.symbols == tuple(sorted(symbols))
    assert snapshot.intervals == tuple(sorted(INTERVALS))
    assert snapshot.report.complete
    assert snapshot.report.ok


def test_a_sharded_host_loads_its_half_from_the_hub(url, tmp_path):
    with HubProcess(url, tmp_path) as hub:
        snapshot, status = run_host([hub.address, url], shard="2/2")
    half = Shard(2, 2).select(SYMBOLS)
    assert 0 < len(half) < len(SYMBOLS)
    assert_complete(snapshot, half)
    assert status.shard == "2/2"
    assert (status.store_served, status.store_fallbacks) == (hub.address, 0)
    assert status.fallbacks == 0


def test_hub_unreachable_from_the_start(url):
    dead = f"grpc://127.0.0.1:{free_port()}?timeout=5"
    snapshot, status = run_host([dead, url])
    assert_complete(snapshot)
    assert status.store_served == url
    assert status.store_fallbacks > 0


def test_hub_unreachable_and_no_other_store_gives_a_clear_reason_at_the_open():
    port = free_port()
    snapshot, status = run_host(f"grpc://127.0.0.1:{port}?timeout=5", max_attempts=1)
    assert snapshot is None
    assert status.fallbacks == 1
    assert f"127.0.0.1:{port}" in (status.last_error or "")
    fallback = [e for e in status.events if e.kind == "fallback"]
    assert fallback
    assert "retrying" in fallback[-1].detail or "loading" in fallback[-1].detail


def test_stale_session_is_refused_and_the_database_answers(url, tmp_path):
    with HubProcess(url, tmp_path, "stale") as hub:
        store = open_store([hub.address, url])
        try:
            got = store.load(SYMBOLS[:5], "1m", START, END)
            report = store.report
        finally:
            store.close()
        snapshot, status = run_host([hub.address, url])
    assert report.served == url
    assert "2024-11-29" in report.last_reason
    assert "refused as stale" in report.last_reason
    assert all(len(got[s]) == 390 * 4 + 210 for s in SYMBOLS[:5])
    assert_complete(snapshot)
    assert status.store_served == url


def test_corrupt_stream_is_refused(url, tmp_path):
    with HubProcess(url, tmp_path, "corrupt") as hub:
        store = open_store([hub.address, url])
        try:
            store.load(SYMBOLS[:2], "1d", START, END)
            report = store.report
        finally:
            store.close()
    assert report.served == url
    assert "unexpected schema" in report.last_reason


def test_slower_than_the_deadline_falls_back(url, tmp_path):
    with HubProcess(url, tmp_path, "slow") as hub:
        store = open_store([f"{hub.address}?timeout=1", url])
        try:
            got = store.load(SYMBOLS[:2], "1d", START, END)
            report = store.report
        finally:
            store.close()
    assert len(got["S0000"]) == 5
    assert report.served == url
    assert "no answer after 1.00 sec" in report.last_reason


def test_killed_mid_transfer_then_restarted(url, tmp_path):
    hub = HubProcess(url, tmp_path, "stall")
    store = open_store([hub.address, url])
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(store.load, SYMBOLS[:8], "1m", START, END)
            hub.wait_sent()  # one record batch is on the wire, the rest never comes
            hub.kill()
            got = future.result(timeout=WAIT)
        assert store.report.served == url
        assert store.report.fallbacks == 1
        assert all(len(got[s]) == 390 * 4 + 210 for s in SYMBOLS[:8])
        # The hub comes back on the same port: the next load is the hub's again.
        with HubProcess(url, tmp_path, port=hub.port) as again:
            assert again.port == hub.port
            again_got = store.load(SYMBOLS[:8], "1m", START, END)
            assert store.report.served == hub.address
            assert store.report.fallbacks == 1
        for symbol in SYMBOLS[:8]:
            assert again_got[symbol].equals(got[symbol])
        # Gone for good, with nothing behind it: a connection error the loader retries.
        lone = open_store(hub.address)
        with pytest.raises(StoreConnectionError, match=f"127.0.0.1:{hub.port}"):
            lone.load(SYMBOLS[:1], "1m", START, END)
        lone.close()
    finally:
        hub.kill()
        store.close()
