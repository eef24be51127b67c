"""The database unreachable for the whole window, back after the open (or never).

The store raises ``StoreConnectionError`` for as long as the test says. The
status's event history must tell the story in order, and the retries must
back off: answer data from the rule "the first retry after a failed load
waits 1 s, each next one twice as long, at most the 5-minute check
interval; the open starts the backoff afresh".
"""

from __future__ import annotations

import datetime as dt

import pytest
from _faulty import FaultyStore
from _world import WAIT, Started, seed_sqlite, settings
from support.week import XNYS, at

from preopen.clock import SimulatedClock
from preopen.errors import NoSnapshotError
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import symbol_names

DAY = dt.date(2024, 11, 26)
NEXT = dt.date(2024, 11, 27)
NAMES = tuple(symbol_names(8))

# Answer data: the retries in the window after the 08:30:00 failure (1, 2, 4 ...
# 256 s apart, then every 300 s), and after the open's failure at 09:30:00.
WINDOW_RETRIES = (
    "08:30:01", "08:30:03", "08:30:07", "08:30:15", "08:30:31", "08:31:03", "08:32:07",
    "08:34:15", "08:38:31", "08:43:31", "08:48:31", "08:53:31", "08:58:31", "09:03:31",
    "09:08:31", "09:13:31", "09:18:31", "09:23:31", "09:28:31",
)
OPEN_RETRIES = ("09:30:00", "09:30:01", "09:30:03", "09:30:07", "09:30:15", "09:30:31",
                "09:31:03")


def hms(day, text):
    hour, minute, second = map(int, text.split(":"))
    return at(day, f"{hour:02d}:{minute:02d}").add(seconds=second)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    url, written = seed_sqlite(tmp_path_factory.mktemp("db-down") / "bars.db", len(NAMES))
    store = open_store(url, create=True)
    yield url, written["5m"], store
    store.close()


@pytest.fixture
def started():
    starter = Started()
    yield starter
    starter.stop_all()


def test_down_for_the_window_back_after_the_open(real_store, started):
    url, written, inner = real_store
    store = FaultyStore(inner)
    store.down = True
    clock = SimulatedClock(at(DAY, "08:00"))
    runtime = started(settings(url, symbols=NAMES), clock=clock, store=store)
    clock.advance_to(at(DAY, "09:29"))
    status = runtime.status()
    assert status.failed_symbols == NAMES
    assert "StoreConnectionError: connection to server" in (status.last_error or "")
    clock.advance_to(at(DAY, "09:31"))
    with pytest.raises(NoSnapshotError):
        runtime.snapshot()  # nothing loaded: no empty snapshot is served
    store.down = False  # the server is back
    clock.advance_to(at(DAY, "09:35"))
    runtime.settle(timeout=WAIT)
    snapshot = runtime.snapshot()
    assert snapshot.session == DAY
    assert snapshot.report.complete
    start, end = XNYS.open_at(dt.date(2024, 11, 22)), XNYS.close_at(dt.date(2024, 11, 25))
    for name in NAMES:
        assert snapshot.bars(name, "5m").equals(written[name].between(start, end))
    status = runtime.status()
    assert status.serving == DAY
    assert status.fallbacks == 1
    assert status.activations == 1
    assert status.failed_symbols == ()
    assert status.restarts == 0  # a store that is down kills nothing

    events = [e for e in status.events if e.session == DAY]
    kinds = [e.kind for e in events]
    fallback = kinds.index(EventKind.FALLBACK)
    # The story: planned, prefetch started and failed, retried (failing) until the open ...
    assert kinds[:3] == [EventKind.PLANNED, EventKind.PREFETCH_STARTED,
                         EventKind.PREFETCH_FAILED]
    window = kinds[3:fallback]
    assert window == [EventKind.RETRY, EventKind.PREFETCH_FAILED] * len(WINDOW_RETRIES)
    # ... falls back at the open, keeps retrying, then loads and activates.
    after = kinds[fallback + 1 :]
    assert after == ([EventKind.RETRY, EventKind.PREFETCH_FAILED] * (len(OPEN_RETRIES) - 1)
                     + [EventKind.RETRY, EventKind.PREFETCH_DONE, EventKind.ACTIVATED])
    assert events[fallback].at == at(DAY, "09:30")
    retries = [e.at for e in events if e.kind is EventKind.RETRY]
    assert retries == [hms(DAY, t) for t in WINDOW_RETRIES + OPEN_RETRIES]
    assert "connection to server" in events[2].detail
    assert "retrying at 2024-11-26T13:30:01+00:00" in events[2].detail


def test_down_all_day_the_session_ends_without_data_and_nothing_crashes(real_store, started):
    url, _, inner = real_store
    store = FaultyStore(inner)
    store.down = True
    clock = SimulatedClock(at(DAY, "09:00"))
    runtime = started(settings(url, symbols=NAMES), clock=clock, store=store)
    clock.advance_to(at(DAY, "16:01"))
    status = runtime.status()
    assert status.running
    assert status.serving is None
    assert status.session == NEXT
    assert status.fallbacks == 1
    day_events = [e for e in status.events if e.session == DAY]
    assert day_events[-1].kind is EventKind.SESSION_ENDED
    # After the open, retries back off to the check interval: 09:30 .. 16:00
    # takes at most 19 quick ones (1 s .. 256 s) plus one per 5 minutes.
    assert store.injected.refused_while_down <= 3 * 2 * (2 + 19 + 19 + 6.5 * 12 + 1)
    # The next day starts afresh once the server is back.
    store.down = False
    clock.advance_to(at(NEXT, "09:30"))
    runtime.settle(timeout=WAIT)
    assert runtime.snapshot().session == NEXT
    assert runtime.status().fallbacks == 1
