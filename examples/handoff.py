"""A host that joins live bars onto the history preopen hands over at the open.

At the open the host asks the snapshot where each symbol's history ends and
which bar the live feed must bring first (:func:`preopen.model.handoffs`),
then appends the feed's bars with :func:`preopen.model.join_live`, which
refuses a gap or an overlap instead of letting either reach a strategy.

It replays the open of Monday 2024-12-02 on a simulated clock (the Friday
before closed early, at 13:00) with a temporary SQLite store in which:

- ``S0000`` and ``S0001`` are complete and their feed starts on time: joined;
- ``S0002``'s feed starts two minutes late: a gap of 2 bars, reported;
- ``LATE`` lacks the Friday in the store: the hand-off says 210 bars are
  missing before the open, and the join reports that gap.

    python examples/handoff.py

Exit code 0 when every outcome is the one described above.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import numpy as np

from preopen import Bars, Runtime, Settings, SimulatedClock, get_calendar, open_store
from preopen.errors import LiveJoinError
from preopen.model import RECORD_DTYPE, handoffs, join_live
from preopen.store.synthetic import seed_store

SESSION = dt.date(2024, 12, 2)
WAIT_S = 60.0
MINUTE_NS = 60_000_000_000


def feed(symbol: str, first_ts: int, count: int) -> Bars:
    """What a live feed would deliver: ``count`` one-minute bars from ``first_ts``."""
    records = np.zeros(count, RECORD_DTYPE)
    records["ts"] = first_ts + MINUTE_NS * np.arange(count, dtype=np.int64)
    records["open"] = records["high"] = records["low"] = records["close"] = 100.0
    records["volume"] = 1_000.0
    return Bars.from_records(symbol, "1m", records)


def at(ts: int) -> str:
    """A stamp in New York time, for the printout."""
    return dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).astimezone(
        get_calendar("XNYS").open_at(SESSION).tzinfo).strftime("%Y-%m-%d %H:%M")


def run(store_url: str) -> int:
    """Seed, replay the open, join 15 minutes of live bars per symbol."""
    calendar = get_calendar("XNYS")
    days = calendar.trailing_sessions(SESSION, 3)
    store = open_store(store_url, create=True)
    try:
        seed_store(store, calendar, ["S0000", "S0001", "S0002"], days, ["1m"])
        seed_store(store, calendar, ["LATE"], days[:-1], ["1m"])  # no Friday
        settings = Settings.load(store=store_url, intervals=("1m",), trailing_days=3,
                                 symbols=("LATE", "S0000", "S0001", "S0002"))
        clock = SimulatedClock(calendar.open_at(SESSION).subtract(hours=2))
        with Runtime.start(settings, clock=clock, store=store, calendar=calendar) as runtime:
            clock.advance(dt.timedelta(0))
            clock.advance_to(calendar.open_at(SESSION))
            runtime.wait_for(lambda s: s.serving == SESSION, timeout=WAIT_S)
            snapshot = runtime.snapshot()
            outcomes = join_the_feed(snapshot, runtime.calendar)
    finally:
        store.close()
    expected = {"S0000": "joined", "S0001": "joined", "S0002": "gap 2", "LATE": "gap 210"}
    return 0 if outcomes == expected else 1


def join_the_feed(snapshot, calendar) -> dict[str, str]:  # noqa: ANN001 - kept short for the README
    """The host's part: the hand-off, then the joins."""
    table = handoffs(snapshot, "1m", calendar=calendar)
    print(f"session {table.session}: the live feed starts at {at(table.next_ts)}; "
          f"the history should end at {at(table.expected_last_ts)}")
    outcomes: dict[str, str] = {}
    for symbol in table.symbols:
        h = table.row(symbol)
        if not h.complete:
            print(f"  {symbol}: history ends {at(h.last_ts or 0)}, {h.missing} bars missing "
                  "before the open (backfill them, or the join reports the gap)")
        delay = 2 if symbol == "S0002" else 0  # this symbol's feed starts late
        live = feed(symbol, h.next_ts + delay * MINUTE_NS, 15)
        try:
            joined = join_live(snapshot.bars(symbol, "1m"), live, calendar=calendar,
                               next_ts=h.next_ts)
        except LiveJoinError as exc:
            print(f"  {symbol}: refused: {exc.check}")
            outcomes[symbol] = f"gap {exc.check.missing}" if exc.check.gaps else "refused"
            continue
        print(f"  {symbol}: joined {len(live)} live bars, {len(joined)} bars, "
              f"last {at(int(joined.ts[-1]))}")
        outcomes[symbol] = "joined"
    return outcomes


def main() -> int:
    """Run against a temporary SQLite store."""
    with tempfile.TemporaryDirectory() as tmp:
        return run(f"sqlite:///{Path(tmp) / 'handoff.db'}")


if __name__ == "__main__":
    sys.exit(main())
