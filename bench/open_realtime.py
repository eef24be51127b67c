"""Benchmark the open as the host sees it in real time: from the open instant to the host's read.

Prints one JSON line. ``bench/activation.py`` drives a SimulatedClock, whose
driving thread must take the interpreter from a polling host to move the
clock; a host on the system clock has no such thread: the open comes when
the wall clock reaches it. Here the clock is the system clock shifted by an
offset that the bench moves between sessions (:class:`JumpClock`): for each
of ``--activations`` consecutive sessions (plus one warm-up open, not
counted: it replaces no snapshot) it jumps to 30 minutes before the open
(inside the prefetch window), waits for the prefetch to finish, pauses
``--settle-ms``, jumps to ``--lead-ms`` before the open and lets real time
run across it. Each row gives p50/p99/max in microseconds of:

- ``host_us``: from the open instant to the instant the host has read the
  last close of one symbol of the new session (the clock's seconds, read
  just after the read). ``poll``: a host thread polling
  ``runtime.snapshot()`` in a tight loop from ``--lead-ms`` before the open;
  ``callback``: the host reads in ``on_activated``.
- ``tick_late_us``: how late the system clock's timer thread delivered the
  first wake-up of the open (the SessionDataActor's, ``OPEN_LEAD_S`` ahead
  of it; each timer sleeps until ``preopen.clock.SPIN_S`` before its
  wake-up and spins the rest).
- ``swap_us``: ``RuntimeStatus.activation_latency_s`` (from the open
  reached by the SessionDataActor's spin, or from the tick's delivery, to
  the swap).

Data: every symbol has 1m bars over 5 trailing sessions (10,000 symbols:
19.5 M bars, 936 MB), views of one synthetic array (``SharedStore`` of
``bench/activation.py``); each snapshot is assembled and validated as in
production. The host keeps only the current snapshot. The load average is
printed at the start and the end of each row.

    python bench/open_realtime.py --sizes 10000 --activations 60
    python bench/open_realtime.py --sizes 1000 --activations 10 --modes poll   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum

sys.path.insert(0, str(Path(__file__).resolve().parent))
from activation import (
    CAL,
    FIRST_DAY,
    INTERVAL,
    LAST_DAY,
    MODES,
    TRAILING,
    Host,
    OpensRun,
    loadavg,
    percentiles,
)

from preopen.clock import SystemClock, as_utc
from preopen.runtime import Runtime

if TYPE_CHECKING:
    from concurrent.futures import Future

    from preopen.clock import Alarm, Deliver
    from preopen.model import SessionSnapshot

WAIT_S = 120.0


class JumpClock(SystemClock):
    """The system clock plus an offset the bench moves forward (:meth:`jump_to`).

    Its alarms are the system clock's own (one timer thread each, which
    sleeps until ``SPIN_S`` before a wake-up and spins the rest): the tick's
    lateness measured here is preopen's timer's.
    """

    def __init__(self, start: dt.datetime) -> None:
        """Read ``start`` now."""
        super().__init__()
        self._shift = as_utc(start).timestamp() - time.time()
        self._alarms: list[RecordedAlarm] = []
        # Each delivery: the alarm's name, the instant it was due, the seconds it was made at.
        self.opens: list[tuple[str, pendulum.DateTime, float]] = []

    def seconds(self) -> float:
        """The shifted time as POSIX seconds."""
        return time.time() + self._shift

    def now(self) -> pendulum.DateTime:
        """The shifted time."""
        return pendulum.from_timestamp(self.seconds(), tz="UTC")

    def alarm(self, deliver: Deliver, *, name: str = "alarm") -> Alarm:
        """The system clock's alarm, noting when each tick is delivered."""
        def noted(now: pendulum.DateTime, ack: Future[None] | None) -> None:
            self.opens.append((name, now, self.seconds()))
            deliver(now, ack)

        alarm = RecordedAlarm(super().alarm(noted, name=name))
        self._alarms.append(alarm)
        return alarm

    def jump_to(self, instant: dt.datetime) -> None:
        """Move the shifted time forward to ``instant``; alarms due on the way ring."""
        target = as_utc(instant).timestamp()
        if target < self.seconds():
            msg = f"jump to {instant} is backwards: a clock only moves forward"
            raise ValueError(msg)
        self._shift = target - time.time()
        for alarm in self._alarms:
            alarm.again()


class RecordedAlarm:
    """An alarm that remembers its pending wake-up, to ask for it again after a jump."""

    def __init__(self, alarm: Alarm) -> None:
        """Wrap ``alarm``."""
        self._alarm = alarm
        self._due: dt.datetime | None = None
        self.thread = getattr(alarm, "thread", None)

    def wake_at(self, instant: dt.datetime) -> None:
        """Ask to be woken at ``instant``."""
        self._due = instant
        self._alarm.wake_at(instant)

    def again(self) -> None:
        """The clock jumped: the timer looks at the pending wake-up again."""
        if self._due is not None:
            self._alarm.wake_at(self._due)

    def cancel(self) -> None:
        """End the timer thread."""
        self._alarm.cancel()


class ClockHost(Host):
    """The bench's host, timing its read on the clock."""

    def __init__(self, runtime: Runtime, symbol: str, clock: JumpClock) -> None:
        """Poll in a tight loop when polling."""
        super().__init__(runtime, symbol, None)
        self.clock = clock

    def _read(self, snapshot: SessionSnapshot) -> None:
        float(snapshot.bars(self.symbol, INTERVAL).close[-1])
        read_at = self.clock.seconds()
        self.current = snapshot
        self.reads.put((snapshot.session, read_at))


def opens(size: int, mode: str, activations: int, *, lead_s: float,
          settle_s: float) -> dict[str, Any]:
    """Drive ``activations`` + 1 opens in real time; time each from the open to the read."""
    began, load_start = time.perf_counter(), loadavg()
    run = OpensRun.of(size, activations)
    targets, names, store, settings = run.targets, run.names, run.store, run.settings
    clock = JumpClock(run.start)
    host_s: list[float] = []
    late_s: list[float] = []
    swap_s: list[float] = []
    with Runtime.start(settings, clock=clock, store=store, timeout=WAIT_S) as runtime:
        host = ClockHost(runtime, names[len(names) // 2], clock)
        if mode == "callback":
            runtime.on_activated(host.on_activated)
        else:
            host.start_polling()
        try:
            for i, session in enumerate(targets):
                opening = CAL.open_at(session)
                clock.jump_to(opening - dt.timedelta(minutes=30))
                runtime.wait_for(lambda s, day=session: s.session == day and s.progress.total > 0
                                 and s.progress.done == s.progress.total, timeout=WAIT_S)
                time.sleep(settle_s)
                clock.jump_to(opening - dt.timedelta(seconds=lead_s))
                if mode == "poll":
                    host.arm(session)
                read = host.reads.get(timeout=WAIT_S)
                if isinstance(read, BaseException):
                    raise read
                runtime.wait_for(lambda s, day=session: s.serving == day, timeout=WAIT_S)
                status = runtime.status()
                if read[0] != session or status.fallbacks:
                    msg = f"session {session} not activated from the prefetch: {status.last_error}"
                    raise RuntimeError(msg)
                if i == 0:
                    continue  # the warm-up open: it replaces no snapshot
                # The alarm that woke the runtime for this open: the SessionDataActor's
                # ahead of it (real time), or else the scheduler's at it.
                woke = [(when, made) for name, when, made in clock.opens
                        if when > opening - dt.timedelta(seconds=1)]
                when, made = woke[0]
                host_s.append(read[1] - opening.timestamp())
                late_s.append(made - when.timestamp())
                swap_s.append(status.activation_latency_s or 0.0)
        finally:
            host.stop_polling()
    return {"symbols": size, "interval": INTERVAL, "sessions": TRAILING, "mode": mode,
            "activations": len(host_s), "host_us": percentiles(host_s),
            "tick_late_us": percentiles(late_s), "swap_us": percentiles(swap_s),
            "wall_s": round(time.perf_counter() - began, 1), "loadavg_start": load_start,
            "loadavg_end": loadavg()}


def main() -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--activations", type=int, default=60)
    parser.add_argument("--lead-ms", type=float, default=200.0)
    parser.add_argument("--settle-ms", type=float, default=500.0)
    args = parser.parse_args()
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r} is not accepted: symbol counts, e.g. 1000,10000")
    if any(size < 1 for size in sizes):
        parser.error(f"--sizes {args.sizes!r} is not accepted: each at least 1")
    modes = args.modes.split(",")
    if not set(modes) <= set(MODES):
        parser.error(f"--modes {args.modes!r} is not accepted: a list of {', '.join(MODES)}")
    most = len(CAL.sessions(FIRST_DAY, LAST_DAY)) - TRAILING - 2
    if not 1 <= args.activations <= most:
        parser.error(f"--activations {args.activations} is not accepted: use 1 to {most}")
    if not 10 <= args.lead_ms <= 10_000:
        parser.error(f"--lead-ms {args.lead_ms} is not accepted: use 10 to 10000")
    if not 0 <= args.settle_ms <= 60_000:
        parser.error(f"--settle-ms {args.settle_ms} is not accepted: use 0 to 60000")
    out: dict[str, Any] = {"bench": "open_realtime", "loadavg_start": loadavg(),
                           "switch_interval_us": round(sys.getswitchinterval() * 1e6),
                           "lead_ms": args.lead_ms, "settle_ms": args.settle_ms}
    out["opens"] = [opens(size, mode, args.activations, lead_s=args.lead_ms / 1e3,
                          settle_s=args.settle_ms / 1e3)
                    for size in sizes for mode in modes]
    out["loadavg_end"] = loadavg()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
