"""What the host reads of a running preopen: :class:`RuntimeStatus` and its parts.

Immutable values, built by the runtime and published by replacing one
reference, so that a host reads them with no message and no lock:

- :class:`RuntimeStatus`: the runtime at a glance (``runtime.status()``);
- :class:`Progress`: how far the current load is, in ``(symbol, interval)`` keys;
- :class:`Event` and :class:`EventKind`: the recent history, in the status.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from preopen.calendar.timing import Phase

if TYPE_CHECKING:
    import datetime as dt

    import pendulum

__all__ = ["ErrorInfo", "Event", "EventKind", "LatencyHistogram", "Progress", "RuntimeStatus"]

#: Upper bounds (seconds) of the activation latency buckets; a last bucket is +Inf.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)


class EventKind(enum.StrEnum):
    """What happened, in the status's event history."""

    STARTED = "started"
    PLANNED = "planned"
    PREFETCH_STARTED = "prefetch-started"
    PREFETCH_DONE = "prefetch-done"
    PREFETCH_FAILED = "prefetch-failed"
    RETRY = "retry"
    FALLBACK = "fallback"
    SYMBOLS = "symbols"
    ACTIVATED = "activated"
    REFUSED = "refused"
    RETIRED = "retired"
    SESSION_ENDED = "session-ended"
    CALENDAR = "calendar"
    RESTART = "restart"
    ERROR = "error"
    ESCALATED = "escalated"
    STOPPED = "stopped"
    LOAD_STALLED = "load-stalled"
    STORE_WIDE = "store-wide"
    HORIZON_WARNING = "horizon-warning"
    PUBLISHED = "published"
    PUBLISH_FAILED = "publish-failed"
    CLOSED_DAYS = "closed-days"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the runtime's history.

    Attributes:
        seq: its rank in the history (increasing).
        at: market time (the runtime's clock) when it happened.
        kind: what happened.
        session: the session it concerns, if any.
        detail: the specifics, in words.
    """

    seq: int
    at: pendulum.DateTime
    kind: EventKind
    session: dt.date | None
    detail: str

    def __str__(self) -> str:
        """``at kind [session]: detail``."""
        session = f" [{self.session.isoformat()}]" if self.session else ""
        return f"{self.at.isoformat()} {self.kind}{session}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception as the status keeps it: immutable, no traceback object.

    Attributes:
        type: the exception's qualified class name
            (``preopen.errors.StoreTimeoutError``).
        message: its message (``str(exc)``).
        where: who met it (``loader-0``, ``scheduler``, ``on_activated``).
    """

    type: str
    message: str
    where: str = ""

    @classmethod
    def of(cls, error: BaseException, where: str = "") -> ErrorInfo:
        """The type and message of ``error``."""
        kind = type(error)
        module = kind.__module__
        name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
        return cls(name, str(error), where)

    def __str__(self) -> str:
        """``TypeName: message``."""
        name = self.type.rsplit(".", 1)[-1]
        return f"{name}: {self.message}" if self.message else name


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a load is, in ``(symbol, interval)`` keys.

    Attributes:
        done: keys loaded.
        total: keys wanted.
        failed: keys given up on (until their next retry).
    """

    done: int = 0
    total: int = 0
    failed: int = 0

    @property
    def pending(self) -> int:
        """Keys neither loaded nor given up on: queued or in flight."""
        return self.total - self.done - self.failed


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Every latency observed, as bucket counts (what a Prometheus histogram needs).

    Attributes:
        bounds: the buckets' upper bounds in seconds (a last bucket, +Inf, is implied).
        counts: observations per bucket (not cumulative), one more than ``bounds``.
        total_s: the sum of the observations, in seconds.
    """

    bounds: tuple[float, ...] = LATENCY_BOUNDS
    counts: tuple[int, ...] = (0,) * (len(LATENCY_BOUNDS) + 1)
    total_s: float = 0.0

    @property
    def count(self) -> int:
        """How many observations."""
        return sum(self.counts)

    def observe(self, seconds: float) -> LatencyHistogram:
        """A new histogram with one more observation (``le`` buckets: ``x <= bound``)."""
        i = bisect.bisect_left(self.bounds, seconds)
        counts = (*self.counts[:i], self.counts[i] + 1, *self.counts[i + 1 :])
        return LatencyHistogram(self.bounds, counts, self.total_s + seconds)


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """The runtime at a glance; immutable.

    Attributes:
        running: the tree is up (False once stopped or escalated).
        phase: the calendar phase at ``now``.
        now: market time of the last update.
        session: the session in progress, else the next one to open.
        session_open: its open.
        prefetch_start: when its prefetch starts (open minus the window).
        serving: the session of the snapshot served to the host, if any.
        serving_symbols: how many symbols that snapshot holds.
        progress: the current load, in ``(symbol, interval)`` keys.
        failed_symbols: symbols given up on in the current load.
        bars_loaded: bars received since the start.
        bytes_loaded: bytes of those bars.
        prefetch_seconds: how long the last load took, first batch to last reply.
        fallback_seconds: for the last session that opened without a complete
            prefetch: from its open to the activation.
        activation_latency_s: the last activation, from the scheduler's
            handling of its trigger to the new reference being served.
        activation_latencies: every activation latency since the start, as a
            histogram.
        activations: snapshots activated since the start (follow-ups included).
        fallbacks: sessions that opened without a complete prefetch.
        restarts: children restarted by the supervisor.
        escalations: times the supervisor gave up (restarts past the intensity).
        loads_retried: load batches queued again since the start (a retry
            after a failure, the halves of a split batch, the batches of a
            dead loader, a retry round of failed keys).
        served_at: market time at which the served snapshot was activated.
        last_error: the last error, in words.
        last_failure: the last exception met (a failed load, a child's
            crash, a host callback's error): its type, message and where.
        events: the recent history, oldest first.
        shard: the host's shard (``"i/N"``), empty when it keeps every symbol.
        store_served: the store that answered the last load (of a list of
            stores), empty for a single store.
        store_fallbacks: loads a list of stores answered from a store after
            the first, since the start.
        loads_stalled: load batches seen waiting on the store past the stall
            threshold (a quarter of ``load_timeout_s``, wall time) since the
            start, each counted once; a ``load-stalled`` event names each.
        snapshots_published: snapshots written to ``publish_dir`` since the start.
        publish_failures: publications that failed since the start (a
            ``publish-failed`` event says why; the activation never waits).
    """

    running: bool = True
    phase: Phase = Phase.IDLE
    now: pendulum.DateTime | None = None
    session: dt.date | None = None
    session_open: pendulum.DateTime | None = None
    prefetch_start: pendulum.DateTime | None = None
    serving: dt.date | None = None
    serving_symbols: int = 0
    progress: Progress = field(default_factory=Progress)
    failed_symbols: tuple[str, ...] = ()
    bars_loaded: int = 0
    bytes_loaded: int = 0
    prefetch_seconds: float | None = None
    fallback_seconds: float | None = None
    activation_latency_s: float | None = None
    activation_latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    activations: int = 0
    fallbacks: int = 0
    restarts: int = 0
    escalations: int = 0
    loads_retried: int = 0
    served_at: pendulum.DateTime | None = None
    last_error: str | None = None
    last_failure: ErrorInfo | None = None
    events: tuple[Event, ...] = ()
    shard: str = ""
    store_served: str = ""
    store_fallbacks: int = 0
    loads_stalled: int = 0
    snapshots_published: int = 0
    publish_failures: int = 0

