"""The scheduler's vocabulary: its settings, its commands, and one session's cycle.

Plain values and one plain object (:class:`Cycle`), used by
:class:`~preopen.actors._planner.Planner`; no actor and no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from preopen.actors._prefetch import Batch, LoadSpec

if TYPE_CHECKING:
    import pendulum

    from preopen.actors._prefetch import Prefetch
    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot

__all__ = [
    "RETRY_BASE",
    "Assembler",
    "Command",
    "Cycle",
    "PlanConfig",
    "SendActivate",
    "SendBatch",
    "SendList",
    "SendRetire",
    "load_spec",
]

#: Builds the snapshot of a spec from the loaded bars, at ``built_at``.
Assembler = Callable[
    ["LoadSpec", Mapping[tuple[str, str], "Bars"], "ExchangeCalendar", "pendulum.DateTime"],
    "SessionSnapshot",
]

# The first retry of a failed load waits this long; each next one twice as
# long, up to the check interval (a store that is down is not hammered, and
# one that comes back is found again within seconds).
RETRY_BASE = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class PlanConfig:
    """The settings the planner needs (see :class:`preopen.settings.Settings`)."""

    window: dt.timedelta
    check_interval: dt.timedelta
    intervals: tuple[str, ...]
    trailing_days: int
    loaders: int
    batch_size: int
    max_attempts: int
    enabled: bool = True
    auto_activate: bool = True
    per_loader: int = 2
    keep: Callable[[str], bool] | None = None  # the host's shard: which symbols it loads


@dataclass(frozen=True, slots=True)
class SendBatch:
    """Send ``batch`` (over ``[start, end)``) to loader number ``loader``."""

    loader: int
    batch: Batch
    start: pendulum.DateTime
    end: pendulum.DateTime


@dataclass(frozen=True, slots=True)
class SendList:
    """Ask loader number ``loader`` for the store's symbols."""

    loader: int
    request_id: int


@dataclass(frozen=True, slots=True)
class SendActivate:
    """Tell the SessionDataActor to serve ``snapshot``."""

    snapshot: SessionSnapshot
    sent_at: float


@dataclass(frozen=True, slots=True)
class SendRetire:
    """Tell the SessionDataActor to stop serving snapshots older than ``session``."""

    session: dt.date


Command = SendBatch | SendList | SendActivate | SendRetire


def load_spec(calendar: ExchangeCalendar, session: dt.date, config: PlanConfig) -> LoadSpec:
    """What to load for ``session``.

    The bars of its trailing sessions, from the open of the first to the
    close of the last, at every interval (daily bars too: one per session).
    """
    trailing = calendar.trailing_sessions(session, config.trailing_days)
    return LoadSpec(
        session=session,
        open=calendar.open_at(session),
        close=calendar.close_at(session),
        trailing=trailing,
        start=calendar.open_at(trailing[0]),
        end=calendar.close_at(trailing[-1]),
        intervals=config.intervals,
    )


class Cycle:
    """One target session's state, and its retry schedule."""

    def __init__(self, spec: LoadSpec, starts: pendulum.DateTime) -> None:
        """Plan ``spec``'s session, its prefetch starting at ``starts``."""
        self.spec = spec
        self.prefetch_start = starts
        self.load: Prefetch[Bars] | None = None
        self.listing: int | None = None
        self.opened = False
        self.open_perf: float | None = None
        self.load_started: float | None = None
        self.snapshot: SessionSnapshot | None = None
        self.pending: SessionSnapshot | None = None  # activation sent, unanswered
        self.served: SessionSnapshot | None = None
        self.fallback = False
        # Backoff between retries of failed keys (or of a failed listing).
        self.retries = 0
        self.retry_at: pendulum.DateTime | None = None

    @property
    def session(self) -> dt.date:
        """The session this cycle prepares."""
        return self.spec.session

    @property
    def idle(self) -> bool:
        """Neither a load nor a listing is started."""
        return self.load is None and self.listing is None

    @property
    def has_failures(self) -> bool:
        """The load is done and some keys failed."""
        return self.load is not None and self.load.done and bool(self.load.failures)

    def retry_due(self, now: pendulum.DateTime) -> bool:
        """Whether a retry may start at ``now`` (no backoff pending)."""
        return self.retry_at is None or now >= self.retry_at

    def back_off(self, now: pendulum.DateTime, longest: dt.timedelta) -> pendulum.DateTime:
        """Schedule the next retry: ``RETRY_BASE`` doubling per retry, at most ``longest``."""
        delay = min(longest, RETRY_BASE * (1 << min(self.retries, 30)))
        self.retries += 1
        self.retry_at = now + delay
        return self.retry_at

    def reset_backoff(self) -> None:
        """Forget the retries so far (the load succeeded, or the session opened)."""
        self.retries, self.retry_at = 0, None

    def why_not_ready(self, *, enabled: bool) -> str:
        """Why the session opens without a complete prefetch, in words."""
        if not enabled:
            return "prefetch disabled: loading at the open"
        load = self.load
        if load is None:
            return "prefetch not started before the open: loading now"
        progress = load.progress
        if not load.done:
            return (f"prefetch incomplete at the open ({progress.done}/{progress.total} keys): "
                    "finishing the load now")
        return f"prefetch failed for {progress.failed} keys: retrying them at the open"
