"""The errors of a running runtime: waits that ran out, a stop, an escalation, no snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from preopen.errors._base import PreopenError

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "EscalationError",
    "NoSnapshotError",
    "PreopenTimeoutError",
    "RuntimeStoppedError",
    "StopTimeoutError",
]


class PreopenTimeoutError(PreopenError, TimeoutError):
    """A wait did not end in time.

    Attributes:
        what: what was waited for.
        seconds: how long.
    """

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what}: no answer after {seconds:.2f} sec")


class StopTimeoutError(PreopenTimeoutError):
    """Threads of the runtime were still running when its stop ran out of time.

    Typically a loader inside a store call that ignores cancellation: such a
    thread is a daemon, so it does not keep the process alive.

    Attributes:
        threads: the names of the threads still running.
    """

    def __init__(self, threads: tuple[str, ...], seconds: float) -> None:
        self.threads = threads
        super().__init__(f"stopping the runtime: threads still running: {', '.join(threads)}",
                         seconds)


class RuntimeStoppedError(PreopenError, RuntimeError):
    """The runtime is stopped (or stopping) and cannot answer."""


class EscalationError(PreopenError, RuntimeError):
    """Too many restarts in the restart period: the runtime gave up.

    Attributes:
        child: the child that crashed last.
        restarts: restarts counted within the period.
        period_s: the period in seconds.
    """

    def __init__(self, child: str, restarts: int, period_s: float, cause: str = "") -> None:
        self.child = child
        self.restarts = restarts
        self.period_s = period_s
        self.cause = cause
        tail = f": {cause}" if cause else ""
        super().__init__(
            f"{child} crashed {restarts} times within {period_s:.2f} sec, "
            f"past the restart intensity{tail}"
        )


class NoSnapshotError(PreopenError, LookupError):
    """The runtime serves no snapshot (yet, or not any more).

    Attributes:
        phase: the calendar phase at the time.
        session: the session in progress or next, if known.
    """

    def __init__(self, phase: str, session: dt.date | None, detail: str = "") -> None:
        self.phase = phase
        self.session = session
        which = f"; session {session.isoformat()}" if session else ""
        tail = f": {detail}" if detail else ""
        super().__init__(f"no snapshot is served (phase {phase}{which}){tail}")
