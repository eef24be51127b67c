"""A host that runs its strategies in several processes over one published snapshot.

The main process embeds the runtime: it prefetches the session on a
simulated morning with ``publish_dir`` set, so the runtime publishes the
frozen snapshot itself, off its critical path (uncompressed Arrow IPC
files plus a manifest, flipped by one rename) into a publish directory.
Four worker processes attach it with
``preopen.SnapshotFollower``: each maps the same files read-only, so the
bars are in memory once whatever the number of workers, and computes a
cross-sectional signal over every symbol at once from the 1m table's
columns (momentum over its own lookback, as a z-score across symbols). The
main process checks every worker's answer against its own.

    python examples/multiprocess_host.py
    python examples/multiprocess_host.py --symbols 2000 --workers 4

Exit code 0 when every worker attached the session and agreed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import queue
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from preopen import (
    EventKind,
    Runtime,
    SessionSnapshot,
    Settings,
    SimulatedClock,
    get_calendar,
    open_store,
)
from preopen.store.synthetic import seed_store

if TYPE_CHECKING:
    from preopen.model import BarTable

SESSION = dt.date(2024, 11, 29)
WAIT_S = 60.0
LOOKBACKS = (5, 15, 30, 60)  # minutes, one per worker


def momentum(table: BarTable, lookback: int) -> tuple[str, float]:
    """The symbol with the strongest ``lookback``-bar momentum (z-score across symbols).

    Vectorised over the whole table: the last and the lookback-th last close
    of every symbol are two fancy-indexed reads of the close column.
    """
    last = table.offsets[1:] - 1
    lengths = np.diff(table.offsets)
    valid = lengths > lookback
    returns = np.full(len(table.symbols), np.nan)
    returns[valid] = table.close[last[valid]] / table.close[last[valid] - lookback] - 1.0
    score = (returns - np.nanmean(returns)) / np.nanstd(returns)
    best = int(np.nanargmax(score))
    return table.symbols[best], float(score[best])


def rss_anon_kb() -> int:
    """This process's private resident memory (RssAnon), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return -1


def worker(directory: str, lookback: int, out: Any) -> None:  # noqa: ANN401 - a queue
    """One strategy process: attach the published snapshot and compute its signal."""
    from preopen import SnapshotFollower  # noqa: PLC0415

    with SnapshotFollower(directory) as follower:  # imports pyarrow: before the baseline
        before = rss_anon_kb()
        snapshot = follower.snapshot()
        symbol, score = momentum(snapshot.table("1m"), lookback)
        out.put({"lookback": lookback, "session": snapshot.session.isoformat(),
                 "symbols": len(snapshot.symbols), "best": symbol, "score": score,
                 "rss_anon_growth_kb": rss_anon_kb() - before})


def run(store_url: str, symbols: int, workers: int, publish_dir: Path) -> int:
    """Seed, prefetch and activate a session, publish it, and let the workers trade on it."""
    calendar = get_calendar("XNYS")
    settings = Settings.load(store=store_url, intervals=("1m", "1d"), trailing_days=5,
                             publish_dir=str(publish_dir))
    store = open_store(store_url, create=True)
    try:
        days = calendar.trailing_sessions(SESSION, settings.trailing_days)
        seed_store(store, calendar, symbols, days, settings.intervals)
        settings = settings.replace(symbols=tuple(store.symbols())[:symbols])
        clock = SimulatedClock(calendar.open_at(SESSION).subtract(hours=2, minutes=30))
        activated: queue.SimpleQueue[SessionSnapshot] = queue.SimpleQueue()
        with Runtime.start(settings, clock=clock, store=store, calendar=calendar) as runtime:
            runtime.on_activated(activated.put)
            clock.advance(dt.timedelta(0))
            clock.advance_to(calendar.open_at(SESSION))
            snapshot = activated.get(timeout=WAIT_S)
            # publish_dir is set: the runtime published the snapshot itself, in
            # its own thread, right after freezing it in the window.
            status = runtime.wait_for(lambda s: s.snapshots_published >= 1, timeout=WAIT_S)
    finally:
        store.close()
    published = [e for e in status.events if e.kind is EventKind.PUBLISHED]
    print(f"published {snapshot.session}: {len(snapshot.symbols)} symbols, {snapshot.nbars:,} "
          f"bars ({published[-1].detail})")
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=worker, args=(str(publish_dir), LOOKBACKS[k % 4], results))
                 for k in range(workers)]
    for process in processes:
        process.start()
    answers = []
    try:
        answers = [results.get(timeout=WAIT_S) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=WAIT_S)
            if process.is_alive():
                process.kill()
    agreed = True
    for answer in sorted(answers, key=lambda a: a["lookback"]):
        mine = momentum(snapshot.table("1m"), answer["lookback"])
        same = answer["session"] == snapshot.session.isoformat() and answer["best"] == mine[0]
        agreed &= same and answer["symbols"] == len(snapshot.symbols)
        print(f"  worker {answer['lookback']:>2}-minute momentum: {answer['best']} "
              f"(z {answer['score']:+.2f}), private memory +{answer['rss_anon_growth_kb']:,} kB"
              f"{'' if same else ' DISAGREES'}")
    ok = agreed and len(answers) == workers and all(p.exitcode == 0 for p in processes)
    print("all workers agree" if ok else "workers failed or disagree")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the host."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a store URL (default: a temporary SQLite file)")
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--publish-dir", help="default: a temporary directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{Path(tmp) / 'host.db'}"
        publish = Path(args.publish_dir) if args.publish_dir else Path(tmp) / "published"
        return run(store, args.symbols, args.workers, publish)


if __name__ == "__main__":
    sys.exit(main())
