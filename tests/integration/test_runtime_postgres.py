"""The runtime against a real PostgreSQL server (the pg fixtures: own schema per run).

Expected instants and counts are the published NYSE schedule: Thanksgiving
(Thu 2024-11-28) closed, Fri 11-29 closes at 13:00 (210 one-minute bars),
09:30-16:00 America/New_York otherwise.
"""

from __future__ import annotations

import datetime as dt
import threading

import pendulum
import pytest

from preopen.calendar import get_calendar
from preopen.clock import SimulatedClock
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import EventKind
from preopen.store import open_store
from preopen.store.synthetic import seed_store

pytestmark = pytest.mark.postgres

NY = "America/New_York"
CAL = get_calendar("XNYS")
SYMBOLS = 40
WAIT = 30.0
# Answer data: sessions of 2024-11-27..12-03 with their opens.
OPENS = {
    dt.date(2024, 11, 27): pendulum.datetime(2024, 11, 27, 9, 30, tz=NY),
    dt.date(2024, 11, 29): pendulum.datetime(2024, 11, 29, 9, 30, tz=NY),
    dt.date(2024, 12, 2): pendulum.datetime(2024, 12, 2, 9, 30, tz=NY),
    dt.date(2024, 12, 3): pendulum.datetime(2024, 12, 3, 9, 30, tz=NY),
}


@pytest.fixture
def seeded(pg_dsn, pg_table):
    store = open_store(pg_dsn, table=pg_table, create=True, pool_size=2, connect_timeout=5)
    seed_store(store, CAL, SYMBOLS, CAL.sessions(dt.date(2024, 11, 18), dt.date(2024, 12, 3)),
               ("1m", "1d"))
    yield store
    store.close()


def test_sessions_from_postgres_are_the_store_s_bars(pg_dsn, pg_table, seeded):
    clock = SimulatedClock(pendulum.datetime(2024, 11, 26, 17, 0, tz=NY))
    settings = Settings(store=pg_dsn, table=pg_table, loaders=2, batch_size=16)
    seen = []
    with Runtime.start(settings, clock=clock, store=seeded) as runtime:
        runtime.on_activated(lambda snapshot: seen.append((clock.now(), snapshot)))
        clock.advance_to(pendulum.datetime(2024, 12, 3, 10, 0, tz=NY))
        status = runtime.status()
    assert [(when, s.session) for when, s in seen] == [(o, d) for d, o in OPENS.items()]
    assert status.fallbacks == 0
    starts = [e.at for e in status.events if e.kind == EventKind.PREFETCH_STARTED]
    assert starts == [o.subtract(minutes=60) for o in OPENS.values()]
    for _, snapshot in seen:
        trailing = CAL.trailing_sessions(snapshot.session, 5)
        assert snapshot.report.complete
        assert len(snapshot.symbols) == SYMBOLS
        for interval in ("1m", "1d"):
            direct = seeded.load(snapshot.symbols, interval, CAL.open_at(trailing[0]),
                                 CAL.close_at(trailing[-1]))
            assert all(snapshot.bars(s, interval).equals(direct[s]) for s in snapshot.symbols)
    dec2 = next(s for _, s in seen if s.session == dt.date(2024, 12, 2))
    nov29 = dec2.bars("S0000", "1m").between(CAL.open_at(dt.date(2024, 11, 29)),
                                             CAL.close_at(dt.date(2024, 11, 29)))
    assert len(nov29) == 210


def test_the_runtime_opens_and_closes_its_own_store(pg_dsn, pg_table, seeded):
    before = set(threading.enumerate())
    clock = SimulatedClock(pendulum.datetime(2024, 12, 2, 9, 0, tz=NY))
    settings = Settings(store=pg_dsn, table=pg_table, loaders=2, batch_size=10)
    runtime = Runtime.start(settings, clock=clock)
    try:
        clock.advance_to(pendulum.datetime(2024, 12, 2, 9, 30, tz=NY))
        assert runtime.snapshot().session == dt.date(2024, 12, 2)
        assert len(runtime.snapshot().symbols) == SYMBOLS
    finally:
        runtime.stop(WAIT)
    assert set(threading.enumerate()) <= before
