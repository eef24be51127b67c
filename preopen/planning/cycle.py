"""One target session of the planner: what to load for it, and its cycle.

:class:`LoadSpec` says what to load for a session (:func:`load_spec`: the
bars of its trailing sessions, at every interval). :class:`Cycle` is the
planner's state for one target session: its load (a
:class:`~preopen.planning.prefetch.Prefetch`), its snapshot, whether it
opened, the activation sent and the snapshot served, and its retry schedule
(``RETRY_BASE`` doubling per retry, at most the check interval). The
:class:`~preopen.planning.planner.Planner` holds one cycle at a time and
replaces it at the close.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from preopen.backoff import Backoff
from preopen.model import (
    Bars,
    ColumnReservation,
    SessionSnapshot,
    TableMemory,
    drop_closed_days,
    expected_count,
    session_grid,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.planning.incremental import Reuse
    from preopen.planning.orders import Arm
    from preopen.planning.prefetch import Key, Prefetch

__all__ = ["RETRY_BASE", "Cycle", "LoadSpec", "load_spec"]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What to load for one session.

    Attributes:
        session: the session the snapshot is for.
        open: its open.
        close: its close.
        trailing: the trailing sessions whose bars are loaded, oldest first.
        start: the open of the oldest trailing session.
        end: the close of the newest trailing session (exclusive).
        intervals: the bar intervals to load.
        expected: per interval (in ``intervals`` order), the bars the
            calendar expects of one symbol over the trailing sessions.
    """

    session: dt.date
    open: pendulum.DateTime
    close: pendulum.DateTime
    trailing: tuple[dt.date, ...]
    start: pendulum.DateTime
    end: pendulum.DateTime
    intervals: tuple[str, ...]
    expected: tuple[int, ...] = ()


#: The first retry of a failed load waits this long; each next one twice as
#: long, up to the check interval (a store that is down is not hammered, and
#: one that comes back is found again within seconds).
RETRY_BASE = dt.timedelta(seconds=1)


def load_spec(calendar: ExchangeCalendar, session: dt.date, trailing_days: int,
              intervals: tuple[str, ...]) -> LoadSpec:
    """What to load for ``session``.

    The bars of its trailing sessions, from the open of the first to the
    close of the last, at every interval (daily bars too: one per session).
    """
    trailing = calendar.trailing_sessions(session, trailing_days)
    return LoadSpec(
        session=session,
        open=calendar.open_at(session),
        close=calendar.close_at(session),
        trailing=trailing,
        start=calendar.open_at(trailing[0]),
        end=calendar.close_at(trailing[-1]),
        intervals=intervals,
        expected=tuple(
            expected_count(session_grid(calendar, trailing, interval)) for interval in intervals
        ),
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
        self.symbol_count = 0  # the snapshot's, counted when it was frozen
        self.closed_days_dropped = 0  # bars on non-session days dropped at the last freeze
        self.pending: SessionSnapshot | None = None  # activation sent, unanswered
        # The Arm told and not withdrawn (see preopen.planning.orders.Arm).
        self.armed: Arm | None = None
        self.served: SessionSnapshot | None = None
        self.fallback = False
        # Incremental prefetch: the served snapshot's bars this load reuses,
        # and whether the cycle adopted a snapshot (never reused: its range
        # is an earlier incarnation's).
        self.reuse: Reuse | None = None
        # Each interval's table memory, reserved as the load starts (see reserve).
        self.reserved: dict[str, ColumnReservation] = {}
        self.adopted = False
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

    @property
    def busy(self) -> bool:
        """A load, a listing or an activation is unanswered."""
        return (
            self.listing is not None
            or (self.load is not None and not self.load.done)
            or self.pending is not None
        )

    def refreeze_due(self, wanted: Collection[str]) -> bool:
        """Whether the wanted symbols the done load holds are not the snapshot's (freeze again)."""
        load, snapshot = self.load, self.snapshot
        if load is None or not load.done or snapshot is None:
            return False
        present = {symbol for symbol, _ in load.data(wanted)}
        return present != set(snapshot.symbols)

    def freeze(self, data: dict[Key, Bars], calendar: ExchangeCalendar,
               built_at: pendulum.DateTime) -> SessionSnapshot:
        """Validate ``data`` and freeze it as the session's snapshot, counting its symbols."""
        spec = self.spec
        # Each column is copied once, into its interval's table; the loaders'
        # Bars can be dropped afterwards.
        reuse = self.reuse
        reserved, self.reserved = self.reserved, {}
        snapshot = SessionSnapshot.assemble(
            spec.session, spec.open, spec.close, data, calendar, spec.trailing,
            spec.intervals, built_at, reused=reuse.bars if reuse is not None else None,
            clean=reuse.clean if reuse is not None else (),
            reused_sessions=len(reuse.sessions) if reuse is not None else 0,
            reserved=reserved,
        )
        self.snapshot = self._without_closed_days(snapshot, calendar)
        self.symbol_count = len(self.snapshot.symbols)
        return self.snapshot

    def reserve(self, symbols: int, memory: TableMemory) -> None:
        """Reserve each interval's table memory for ``symbols`` symbols, faulted in as they load.

        The capacity is what the calendar expects of that many symbols plus
        1% (a table that turns out larger is allocated at the freeze, as
        without a reservation); ``memory`` (the planner's kept table memory)
        reuses a kept mapping when nothing views it any more. See
        :class:`~preopen.model.ColumnReservation` and
        :class:`~preopen.model.TableMemory`.
        """
        self.reserved = {
            interval: memory.reserve(symbols * expected + symbols * expected // 100)
            for interval, expected in zip(self.spec.intervals, self.spec.expected, strict=True)
        }

    def prefill(self, symbols: Collection[str]) -> int:
        """Copy the reused bars into the reserved memory while the rest loads; intervals started.

        Each interval's rows are predicted as a full load of ``symbols``
        with every symbol complete would make them (sorted, the calendar's
        expected count each), so a reused head goes at the start of its
        row; the freeze keeps the copy only if the table is that one. See
        :meth:`~preopen.model.ColumnReservation.prefill`.
        """
        reuse = self.reuse
        if reuse is None:
            return 0
        names = tuple(sorted(symbols))
        started = 0
        for interval, expected in zip(self.spec.intervals, self.spec.expected, strict=True):
            reservation = self.reserved.get(interval)
            if reservation is None:
                continue
            # An empty reused cut is no head: assemble_tables gives its row the loaded bars only.
            heads = [head if (head := reuse.bars.get((name, interval))) else None
                     for name in names]
            started += reservation.prefill(names, heads, expected)
        return started

    def close(self, timeout: float) -> None:
        """Give up the reserved memory: end its threads (fault-in, prefill) within ``timeout`` s."""
        reserved, self.reserved = self.reserved, {}
        for reservation in reserved.values():
            reservation.close(timeout)

    def _without_closed_days(self, snapshot: SessionSnapshot,
                             calendar: ExchangeCalendar) -> SessionSnapshot:
        """Drop bars on days the calendar (amended since they were stored) says were closed.

        See :func:`preopen.model.drop_closed_days`; the count is kept in
        ``closed_days_dropped`` for the planner's event.
        """
        snapshot, self.closed_days_dropped = drop_closed_days(
            snapshot, calendar, self.spec.trailing, self.spec.intervals)
        return snapshot

    def retry_due(self, now: pendulum.DateTime) -> bool:
        """Whether a retry may start at ``now`` (no backoff pending)."""
        return self.retry_at is None or now >= self.retry_at

    def back_off(self, now: pendulum.DateTime, longest: dt.timedelta) -> pendulum.DateTime:
        """Schedule the next retry: ``RETRY_BASE`` doubling per retry, at most ``longest``."""
        cap = longest.total_seconds()
        backoff = Backoff(initial=min(RETRY_BASE.total_seconds(), cap), cap=cap, jitter=0.0)
        self.retries += 1
        self.retry_at = now + dt.timedelta(seconds=backoff.delay(self.retries))
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
