"""Where a frozen snapshot goes besides the swap: the host's ``on_frozen``, the publisher.

After each freeze the planner hands the snapshot to :class:`Publishing`,
which calls the host's ``on_frozen`` callback (a hub offers the snapshot
from then on; a failing callback is logged and recorded, never raised) and,
with ``publish_dir`` set, puts it in :attr:`Publishing.to_publish`. The
SchedulerActor hands that to its publisher's thread only after the status
is published and any activation answered, so the swap never waits on it.
The publisher's reports come back here: ``snapshots_published`` and
``publish_failures`` are counted with a ``published`` or ``publish-failed``
event (a staging gets a ``published`` event too, saying it is staged, but
only the flip at the open counts); a failure does not touch ``last_error``
(that is the load's).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from preopen.status import EventKind

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    import pendulum

    from preopen.model import SessionSnapshot
    from preopen.planning.journal import Journal

__all__ = ["Publishing"]

log = logging.getLogger("preopen")


class Publishing:
    """The frozen snapshots' way out of the planner, and the publisher's counters.

    Args:
        journal: where the counters and events go (the planner's).
        publish: whether snapshots are published (``publish_dir`` is set).
        on_frozen: the host's callback for each frozen snapshot; None: nobody.
    """

    def __init__(self, journal: Journal, *, publish: bool,
                 on_frozen: Callable[[SessionSnapshot], object] | None = None) -> None:
        """Publish nothing yet."""
        self._journal = journal
        self._publish = publish
        self._on_frozen = on_frozen
        #: Snapshots frozen and not yet handed to the publisher (only the newest).
        self.to_publish: list[SessionSnapshot] = []

    def frozen(self, snapshot: SessionSnapshot, now: pendulum.DateTime) -> None:
        """Queue ``snapshot`` for the publisher and tell the host's ``on_frozen``."""
        if self._publish:
            # Only the newest matters to readers: one not yet handed over is replaced.
            self.to_publish[:] = [snapshot]
        if self._on_frozen is not None:
            try:
                self._on_frozen(snapshot)
            except Exception as exc:
                log.exception("the on_frozen callback failed for %s", snapshot.session)
                self._journal.error(now, snapshot.session,
                                    f"the on_frozen callback failed: {exc!r}")

    def published(self, session: dt.date, name: str, nbytes: int, seconds: float,
                  now: pendulum.DateTime | None, *, current: bool = True) -> None:
        """The publisher staged ``session``'s snapshot in ``publish_dir``, or made it current.

        Only a publication made current counts in ``snapshots_published``.
        """
        if not current:
            self._journal.event(now, EventKind.PUBLISHED, session,
                                f"{name}: {nbytes} bytes staged in {seconds:.3f} sec, "
                                "current at the open")
            return
        status = self._journal.status
        self._journal.update(snapshots_published=status.snapshots_published + 1)
        self._journal.event(now, EventKind.PUBLISHED, session, f"{name}: current")

    def failed(self, session: dt.date, error: str, now: pendulum.DateTime | None) -> None:
        """The publisher could not write ``session``'s snapshot (serving goes on)."""
        status = self._journal.status
        self._journal.update(publish_failures=status.publish_failures + 1)
        log.warning("publish-failed: %s: %s", session, error)
        self._journal.event(now, EventKind.PUBLISH_FAILED, session, error)
