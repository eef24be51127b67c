"""The hub and the Flight store in one process: what is served, read through, refused."""

from __future__ import annotations

import datetime as dt

import pytest
from flight_support import INTERVALS, SESSION, SYMBOLS, frozen_snapshots, seed
from support.week import XNYS

from preopen.errors import StaleSessionError, StoreError, StoreLacksError
from preopen.store import FallbackStore, FlightStore, open_store

pytest.importorskip("pyarrow.flight")
from preopen.hub import SnapshotHub

TRAILING = XNYS.trailing_sessions(SESSION, 5)
START = XNYS.open_at(TRAILING[0])
END = XNYS.close_at(TRAILING[-1])


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    return seed(tmp_path_factory.mktemp("hub") / "bars.db")


@pytest.fixture(scope="module")
def snapshot(url):
    frozen = frozen_snapshots(url)
    assert frozen, "the runtime froze no snapshot in the window"
    assert frozen[-1].session == SESSION
    return frozen[-1]


@pytest.fixture
def hubs():
    made = []

    def make(**kwargs):
        hub = SnapshotHub("grpc://127.0.0.1:0", calendar=XNYS, trailing_days=5, **kwargs)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.shutdown()


def client(hub, timeout=10):
    return FlightStore(f"grpc://127.0.0.1:{hub.port}?timeout={timeout}")


def test_serves_the_frozen_snapshot_bit_for_bit(hubs, snapshot):
    hub = hubs(batch_rows=500)  # several record batches on the wire
    hub.offer(snapshot)
    store = client(hub)
    try:
        for interval in INTERVALS:
            got = store.load(SYMBOLS[:10], interval, START, END)
            assert sorted(got) == sorted(SYMBOLS[:10])
            for symbol in SYMBOLS[:10]:
                assert got[symbol].equals(snapshot.bars(symbol, interval))
        assert store.symbols() == tuple(sorted(SYMBOLS))
    finally:
        store.close()
    stats = hub.stats()
    assert stats.requests == 2
    assert stats.symbols_from_snapshot == 20
    assert stats.symbols_read_through == 0
    assert stats.sessions == (SESSION,)
    assert stats.rows_sent == sum(len(snapshot.bars(s, i)) for s in SYMBOLS[:10]
                                  for i in INTERVALS)


def test_a_narrower_range_is_cut_from_the_snapshot(hubs, snapshot):
    hub = hubs()
    hub.offer(snapshot)
    start = XNYS.open_at(TRAILING[2])
    store = client(hub)
    try:
        got = store.load(["S0001"], "1m", start, END)
    finally:
        store.close()
    assert got["S0001"].equals(snapshot.bars("S0001", "1m").between(start, END))
    assert len(got["S0001"]) == 390 + 390 + 210  # 11-26, 11-27, 11-29 (13:00 close)


def test_reads_through_its_store_what_it_lacks_and_counts_it(hubs, snapshot, url):
    own = open_store(url)
    hub = hubs(store=own)
    hub.offer(snapshot)
    store = client(hub)
    later = XNYS.trailing_sessions(dt.date(2024, 12, 3), 5)
    try:
        # a range no snapshot covers (the next session's): all from the store
        got = store.load(SYMBOLS[:3], "1m", XNYS.open_at(later[0]), XNYS.close_at(later[-1]))
        expected = own.load(SYMBOLS[:3], "1m", XNYS.open_at(later[0]), XNYS.close_at(later[-1]))
    finally:
        store.close()
        own.close()
    for symbol in SYMBOLS[:3]:
        assert got[symbol].equals(expected[symbol])
    stats = hub.stats()
    assert (stats.symbols_read_through, stats.read_through_loads, stats.symbols_from_snapshot) \
        == (3, 1, 0)


def test_without_a_store_it_says_it_lacks_the_range(hubs, snapshot):
    hub = hubs()
    hub.offer(snapshot)
    store = client(hub)
    later = XNYS.trailing_sessions(dt.date(2024, 12, 3), 5)
    try:
        with pytest.raises(StoreLacksError, match="lacks"):
            store.load(SYMBOLS[:3], "1m", XNYS.open_at(later[0]), XNYS.close_at(later[-1]))
        with pytest.raises(StoreLacksError):
            store.load(["NOT-HELD"], "1m", START, END)
    finally:
        store.close()
    assert hub.stats().lacked == 2


def test_a_session_asked_by_name_must_match(hubs, snapshot):
    hub = hubs()
    hub.offer(snapshot)
    store = client(hub)
    try:
        assert store.load(["S0000"], "1d", START, END, session=SESSION)["S0000"].equals(
            snapshot.bars("S0000", "1d"))
        with pytest.raises(StoreLacksError):
            store.load(["S0000"], "1d", START, END, session=dt.date(2024, 12, 3))
    finally:
        store.close()


def test_the_hub_keeps_the_newest_sessions(hubs, snapshot, url):
    hub = hubs(keep=1)
    older = frozen_snapshots(url, (dt.date(2024, 11, 29),))[-1]
    hub.offer(snapshot)
    hub.offer(older)  # older than what it holds: dropped
    assert hub.stats().sessions == (SESSION,)


def test_fallback_to_the_database_when_the_hub_is_down(url, snapshot):
    dead = FlightStore("grpc://127.0.0.1:9?timeout=5")  # nothing listens on port 9
    dead.close()
    store = open_store(["grpc://127.0.0.1:9?timeout=5", url])
    assert isinstance(store, FallbackStore)
    try:
        got = store.load(SYMBOLS[:4], "1m", START, END)
        assert got["S0002"].equals(snapshot.bars("S0002", "1m"))
        report = store.report
        assert report.served == url
        assert (report.fallbacks, report.calls) == (1, 1)
        assert "127.0.0.1:9" in report.last_reason
        assert dict(report.by_store) == {"grpc://127.0.0.1:9?timeout=5": 0, url: 1}
    finally:
        store.close()


def test_the_hub_first_when_it_answers(hubs, snapshot, url):
    hub = hubs()
    hub.offer(snapshot)
    hub_url = f"grpc://127.0.0.1:{hub.port}"
    store = open_store([hub_url, url])
    try:
        store.load(SYMBOLS[:4], "1m", START, END)
        assert (store.report.served, store.report.fallbacks) == (hub_url, 0)
        with pytest.raises(StoreError, match="read-only") as info:
            FlightStore(hub_url).write("1m", {})
        assert info.value.url == hub_url
    finally:
        store.close()


def test_stale_answers_are_refused():
    from preopen.store import Request, bars_to_arrow  # noqa: PLC0415
    from preopen.store._flight import arrow_to_bars  # noqa: PLC0415 - the check itself

    request = Request("1m", 100, 200, ("A",))
    stale = bars_to_arrow(["A"], [_empty("A")], {"session": "2024-11-29", "start": "0",
                                                 "end": "150", "interval": "1m"})
    with pytest.raises(StaleSessionError) as info:
        arrow_to_bars(stale, request, url="grpc://h:1")
    assert info.value.session == "2024-11-29"
    assert (info.value.served_end, info.value.wanted_end) == (150, 200)
    wrong = bars_to_arrow(["A"], [_empty("A")], {"session": "x", "start": "0", "end": "300",
                                                 "interval": "1d"})
    with pytest.raises(StoreError, match="interval '1d'"):
        arrow_to_bars(wrong, request, url="grpc://h:1")


def _empty(symbol):
    from preopen.model import Bars  # noqa: PLC0415

    return Bars.empty(symbol, "1m")


@pytest.mark.parametrize("url", ["grpc://nohost", "grpc://h:1?timeout=0", "grpc://h:x"])
def test_bad_urls(url):
    with pytest.raises(StoreError, match="grpc://host:port"):
        open_store(url)
