"""The publisher: writes frozen snapshots to ``publish_dir`` off the scheduler's thread.

Publishing a gigabyte takes seconds (write, fsync, checksums); the scheduler
must never wait for it, least of all at the open. :class:`Publisher` owns one
daemon thread and a slot holding the next snapshot to write: :meth:`submit`
replaces what is in the slot (readers want the newest snapshot, so one that
was not started yet is skipped) and returns at once. The thread calls
:func:`preopen.model.publish_snapshot` and reports each outcome with
``report`` (the scheduler's ``tell``): :class:`Published` or
:class:`PublishFailed`, which the planner counts in the status. A failure
never reaches the activation: the in-process swap does not depend on it.

The thread is a daemon: a publication stuck on a dead file system cannot keep
the host's process alive; :meth:`close` asks it to end and waits a little.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

from preopen.actors.child import describe
from preopen.actors.messages import Published, PublishFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.model import Publication, SessionSnapshot

__all__ = ["Publisher"]

log = logging.getLogger("preopen")


def _publish(snapshot: SessionSnapshot, directory: str, keep: int) -> Publication:
    from preopen.model import publish_snapshot  # noqa: PLC0415 - pyarrow only when publishing

    return publish_snapshot(snapshot, directory, keep=keep)


class Publisher:
    """One thread writing the newest submitted snapshot to a directory.

    Args:
        directory: the publish directory (``settings.publish_dir``).
        keep: publications kept (``settings.publish_keep``).
        report: called (in the publisher's thread) with :class:`Published`
            or :class:`PublishFailed` after each attempt.
        publish: the function that writes (default
            :func:`preopen.model.publish_snapshot`; tests inject failures).
    """

    def __init__(
        self,
        directory: str,
        keep: int,
        report: Callable[[object], object],
        *,
        publish: Callable[[SessionSnapshot, str, int], Publication] = _publish,
    ) -> None:
        """Start the thread."""
        self._directory = directory
        self._keep = keep
        self._report = report
        self._publish = publish
        # Snapshots to write, oldest first; None asks the thread to end.
        self._inbox: queue.SimpleQueue[SessionSnapshot | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="preopen-publisher", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The publisher's thread."""
        return self._thread

    def submit(self, snapshot: SessionSnapshot) -> None:
        """Publish ``snapshot`` as soon as the thread is free (replacing one not started)."""
        self._inbox.put(snapshot)

    def close(self, timeout: float = 1.0) -> bool:
        """Ask the thread to end after its current publication; whether it ended in ``timeout``."""
        self._inbox.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next(self) -> SessionSnapshot | None:
        """The newest snapshot submitted (older ones not started are skipped); None: end."""
        while True:
            try:
                snapshot = self._inbox.get(timeout=60.0)
            except queue.Empty:
                continue
            while snapshot is not None:
                try:
                    newer = self._inbox.get_nowait()
                except queue.Empty:
                    return snapshot
                snapshot = newer
            return None

    def _run(self) -> None:
        while (snapshot := self._next()) is not None:
            try:
                done = self._publish(snapshot, self._directory, self._keep)
            except Exception as exc:
                log.warning("publishing the snapshot of %s failed", snapshot.session,
                            exc_info=True)
                outcome: object = PublishFailed(snapshot.session, describe(exc))
            else:
                outcome = Published(snapshot.session, done.name, done.nbytes, done.seconds)
            try:
                self._report(outcome)
            except Exception:
                log.exception("reporting a publication of %s failed", snapshot.session)
