"""Benchmark published snapshots: publish, attach, readers' private memory, flip to first read.

Builds a snapshot synthetically in-process (10,000 symbols x 1m x 5 trailing
sessions by default; no database), publishes it to a fresh directory on
``/dev/shm``, and starts ``--readers`` reader processes. Each reader
attaches (timed), reads every close of every symbol (``snapshot.bars(symbol,
"1m").close``, summed), and reports the growth of its private memory
(RssAnon in /proc/PID/status; the mapped file's pages are shared and show in
RssFile, so plain RSS over-counts them). The baseline is taken after
``import preopen.model, pyarrow``: the libraries are not the snapshot.

Then the parent publishes ``--flips`` more sessions as the runtime does
(``stage_snapshot`` after the freeze; once every reader's follower has mapped
it ahead, ``make_current`` at the open), then ``--flips`` more written and
flipped at once (``publish_snapshot``: nothing to map ahead), while the
readers poll ``SnapshotFollower.snapshot()`` every ``--poll-us``
microseconds. Each reader times from the manifest's rename
(``Publication.flipped_at_ns``, the system-wide monotonic clock) to its first
close of the new session: ``flip_to_first_read_ms`` (staged) and
``unstaged_flip_to_first_read_ms``. Prints one JSON line; the directory is
removed at the end.

    python bench/attach.py
    python bench/attach.py --symbols 1000 --readers 2 --flips 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

CAL_NAME = "XNYS"
INTERVAL = "1m"
QUEUE_WAIT = float(os.environ.get("BENCH_QUEUE_WAIT", "600"))


def rss_anon_kb() -> int:
    """RssAnon of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return -1


def build(symbols: int, sessions: int, day: dt.date) -> Any:  # noqa: ANN401 - a SessionSnapshot
    """A validated snapshot of synthetic bars (as the scheduler assembles one)."""
    from preopen.calendar import get_calendar  # noqa: PLC0415
    from preopen.model import SessionSnapshot  # noqa: PLC0415
    from preopen.store.synthetic import symbol_names, synthetic_bars  # noqa: PLC0415

    cal = get_calendar(CAL_NAME)
    trailing = list(cal.trailing_sessions(day, sessions))
    loaded = synthetic_bars(symbol_names(symbols), cal, trailing, INTERVAL)
    data = {(symbol, INTERVAL): bars for symbol, bars in loaded.items()}
    del loaded
    return SessionSnapshot.assemble(day, cal.open_at(day), cal.close_at(day), data, cal, trailing,
                                    [INTERVAL], dt.datetime.now(dt.UTC))


def reader(directory: str, flips: int, poll_us: int, out: Any) -> None:  # noqa: ANN401 - a queue
    """One reader process: attach, read every close, then time each flip."""
    import pyarrow as pa  # noqa: F401, PLC0415 - in the baseline: the library is not the snapshot

    from preopen.model import SnapshotFollower  # noqa: PLC0415

    base = rss_anon_kb()
    follower = SnapshotFollower(directory)
    started = time.perf_counter()
    snapshot = follower.snapshot()
    attach_s = time.perf_counter() - started
    after_attach = rss_anon_kb()
    started = time.perf_counter()
    total = 0.0
    for symbol in snapshot.symbols:
        total += float(snapshot.bars(symbol, INTERVAL).close.sum())
    read_s = time.perf_counter() - started
    out.put({"pid": os.getpid(), "attach_s": attach_s, "read_all_s": read_s, "checksum": total,
             "rss_anon_base_kb": base, "rss_anon_attach_kb": after_attach - base,
             "rss_anon_growth_kb": rss_anon_kb() - base})
    seen = follower.manifest.sequence if follower.manifest else 0
    pause = poll_us / 1e6
    for _ in range(flips):
        prepared = 0
        while True:
            snapshot = follower.snapshot()  # maps a staged publication ahead, once
            sequence = follower.manifest.sequence if follower.manifest else 0
            if sequence != seen:
                break
            staged = follower.staged
            if staged is not None and staged.sequence != prepared:
                prepared = staged.sequence
                out.put({"pid": os.getpid(), "prepared": prepared})
            time.sleep(pause)
        first = snapshot.bars(snapshot.symbols[0], INTERVAL).close[-1]
        read_ns = time.monotonic_ns()
        out.put({"pid": os.getpid(), "sequence": sequence, "read_ns": read_ns,
                 "skipped": sequence - seen - 1, "first": float(first)})
        seen = sequence
    follower.close()


def main() -> None:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--flips", type=int, default=3)
    parser.add_argument("--poll-us", type=int, default=500)
    parser.add_argument("--dir", default="/dev/shm")  # noqa: S108 - a tmpfs, as hosts use
    args = parser.parse_args()

    from preopen.model import publish_snapshot  # noqa: PLC0415

    directory = Path(args.dir) / f"preopen-bench-{uuid.uuid4().hex[:8]}"
    day = dt.date(2024, 6, 3)
    started = time.perf_counter()
    snapshot = build(args.symbols, args.sessions, day)
    build_s = time.perf_counter() - started
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    try:
        first = publish_snapshot(snapshot, directory, keep=2)
        job = (str(directory), 2 * args.flips, args.poll_us, queue)
        workers = [ctx.Process(target=reader, args=job) for _ in range(args.readers)]
        for worker in workers:
            worker.start()
        attached = [queue.get(timeout=QUEUE_WAIT) for _ in workers]
        publishes, latencies_ms, unstaged_ms, stage_s = timed_flips(
            snapshot, directory, day, [w.pid for w in workers], queue, args.flips)
        publishes.insert(0, first.seconds)
        for worker in workers:
            worker.join(timeout=60)
        growth = [r["rss_anon_growth_kb"] * 1024 for r in attached]
        print(json.dumps({
            "bench": "attach",
            "symbols": args.symbols,
            "sessions": args.sessions,
            "interval": INTERVAL,
            "bars": snapshot.nbars,
            "snapshot_bytes": snapshot.nbytes,
            "file_bytes": first.nbytes,
            "build_s": round(build_s, 2),
            "publish_s": [round(s, 3) for s in publishes],
            "attach_ms": [round(r["attach_s"] * 1e3, 2) for r in attached],
            "read_all_closes_ms": [round(r["read_all_s"] * 1e3, 1) for r in attached],
            "reader_rss_anon_growth_mb": [round(g / 2**20, 1) for g in growth],
            "reader_rss_anon_growth_pct": [round(100 * g / snapshot.nbytes, 2) for g in growth],
            "stage_s": [round(s, 3) for s in stage_s],
            "flip_to_first_read_ms": summary(latencies_ms),
            "unstaged_flip_to_first_read_ms": summary(unstaged_ms),
            "poll_us": args.poll_us,
            "readers": args.readers,
            "loadavg": os.getloadavg()[0],
        }))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def timed_flips(  # noqa: PLR0917 - the run's parts
    snapshot: Any,  # noqa: ANN401 - a SessionSnapshot
    directory: Path,
    day: dt.date,
    pids: list[int | None],
    queue: Any,  # noqa: ANN401 - a multiprocessing queue
    flips: int,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """``flips`` staged flips then ``flips`` unstaged ones; seconds and ms measured."""
    from preopen.model import make_current, publish_snapshot, stage_snapshot  # noqa: PLC0415

    publishes, latencies_ms, unstaged_ms, stage_s = [], [], [], []
    for flip in range(2 * flips):
        # the next session's snapshot: same bars, a later date (what is timed is the flip)
        nxt = CAL_next(day, flip + 1)
        renamed = type(snapshot)(nxt, snapshot.open, snapshot.close, report=snapshot.report,
                                 built_at=snapshot.built_at, tables=snapshot.tables)
        staged_mode = flip < flips
        if staged_mode:
            # as the runtime does: staged after the freeze, current at the open
            staged = stage_snapshot(renamed, directory)
            stage_s.append(staged.seconds)
            waiting = set(pids)
            while waiting:  # every reader has mapped it ahead
                message = queue.get(timeout=QUEUE_WAIT)
                if message.get("prepared") == staged.sequence:
                    waiting.discard(message["pid"])
            publication = make_current(staged, keep=2)
        else:
            publication = publish_snapshot(renamed, directory, keep=2)  # written and flipped
        publishes.append(publication.seconds)
        reads = 0
        while reads < len(pids):
            seen = queue.get(timeout=QUEUE_WAIT)
            if "read_ns" not in seen:
                continue  # a reader that caught next.json between the stage and the flip
            reads += 1
            latency = (seen["read_ns"] - publication.flipped_at_ns) / 1e6
            (latencies_ms if staged_mode else unstaged_ms).append(latency)
    return publishes, latencies_ms, unstaged_ms, stage_s


def summary(latencies_ms: list[float]) -> dict[str, Any]:
    """p50, max and every figure, in ms."""
    return {
        "p50": round(statistics.median(latencies_ms), 3) if latencies_ms else None,
        "max": round(max(latencies_ms), 3) if latencies_ms else None,
        "all": [round(x, 3) for x in latencies_ms],
    }


def CAL_next(day: dt.date, steps: int) -> dt.date:  # noqa: N802 - reads as the calendar's answer
    """The session ``steps`` sessions after ``day``."""
    from preopen.calendar import get_calendar  # noqa: PLC0415

    cal = get_calendar(CAL_NAME)
    for _ in range(steps):
        day = cal.next_session(day)
    return day


if __name__ == "__main__":
    main()
