"""The base of every supervised actor: it reports its own death.

pykka tells nobody when an actor dies. A :class:`SupervisedActor` tells its
supervisor, in the three ways an actor can die:

- an exception from a ``tell``ed message: pykka calls ``on_failure``;
- an exception in ``on_start``: pykka calls nothing, so ``on_start`` catches
  it, reports, and lets pykka stop the actor;
- a stop the supervisor asked for is not a death and is not reported.

pykka drops the ``tell``ed messages still in a dead actor's inbox. A
supervised actor hands them to its supervisor instead (as
:class:`~preopen.actors.messages.Undelivered`), which delivers them to the
next incarnation; ``ask``ed ones are answered with ``ActorDeadError`` at
once, so that the asker (the host, with a timeout) learns it promptly.

It also records its thread in the runtime's ledger, so that stopping the
runtime can join every thread it ever started.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from preopen.actors.messages import ChildFailed, Undelivered

if TYPE_CHECKING:
    from types import TracebackType

    from preopen.actors._address import Address, ThreadLedger

__all__ = ["ChildContext", "SupervisedActor", "describe"]


def describe(error: BaseException | None) -> str:
    """A one-line description of an error: its class and message."""
    if error is None:
        return "unknown error"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(frozen=True, slots=True)
class ChildContext:
    """What a child knows of its place in the tree.

    Attributes:
        name: the child's name (its address's name).
        generation: 1 for the first start, +1 at each restart.
        address: the child's own address (for ``reply_to``).
        supervisor: the supervisor to report a death to (``None``: unsupervised).
        ledger: where the child records its thread.
    """

    name: str
    generation: int
    address: Address
    supervisor: pykka.ActorRef[Any] | None
    ledger: ThreadLedger


class SupervisedActor(pykka.ThreadingActor):
    """A pykka actor that reports its death to its supervisor.

    Subclasses put their start-up code in :meth:`started` (not ``on_start``).
    """

    def __init__(self, context: ChildContext) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__()
        self.context = context

    def on_start(self) -> None:
        """Record the thread, then run :meth:`started`; report a failure."""
        self.context.ledger.record(threading.current_thread())
        try:
            self.started()
        except Exception as exc:
            self._report(exc)
            self._forward_inbox()
            raise

    def started(self) -> None:
        """Start-up code, in the actor's thread (override)."""

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Report the death to the supervisor."""
        del exception_type, traceback
        self._report(exception_value)
        self._forward_inbox()

    def _forward_inbox(self) -> None:
        # pykka has already marked the actor stopped, so new tells fail at the
        # sender (and its Address re-routes them); what is queued is drained here.
        supervisor = self.context.supervisor
        inbox = self.actor_inbox
        while not inbox.empty():
            envelope = inbox.get()  # this thread is the only consumer: never blocks
            message = envelope.message
            if isinstance(message, pykka.messages._ActorStop):  # noqa: SLF001 - pykka's stop request
                if envelope.reply_to is not None:
                    envelope.reply_to.set(None)
            elif envelope.reply_to is not None:
                error = pykka.ActorDeadError(f"{self.context.name} died before answering")
                envelope.reply_to.set_exception((pykka.ActorDeadError, error, None))
            elif supervisor is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    supervisor.tell(Undelivered(self.context.name, message))

    def _report(self, error: BaseException | None) -> None:
        supervisor = self.context.supervisor
        if supervisor is None:
            return
        report = ChildFailed(self.context.name, self.context.generation, describe(error))
        # A dead supervisor means the tree is being torn down: nobody to restart us.
        with contextlib.suppress(pykka.ActorDeadError):
            supervisor.tell(report)
