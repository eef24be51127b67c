"""The Supervisor: the root of preopen's actor tree.

pykka has no supervision, so preopen brings its own, after Erlang/OTP's
one-for-one supervisor:

- it starts its children from :class:`ChildSpec` values, in order, and binds
  each child's :class:`~preopen.actors.Address` to the new ActorRef;
- a child reports its own death (:class:`~preopen.actors._base.SupervisedActor`
  covers a failed ``tell`` and a failed ``on_start``); the supervisor then
  restarts that child alone, with the same arguments (its durable state is
  in the cells it is handed again), after the backoff of its
  :class:`~preopen.actors._restart.RestartPolicy`, re-binds the address,
  delivers what was sent to the dead incarnation, and tells the scheduler
  so it can re-send the work the dead child held;
- past the restart intensity it escalates: it stops every child in the
  reverse order of their start, publishes the reason on the status board,
  calls the host's ``on_failure`` callbacks, and stops itself;
- stopping it stops the children, in reverse order, each within a timeout.

Reports carry the child's generation, so a late report about an incarnation
already replaced is ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pykka

from preopen.actors._base import ChildContext, SupervisedActor
from preopen.actors._status import Event, EventKind
from preopen.actors.messages import (
    ChildFailed,
    Children,
    ChildRestarted,
    OnFailure,
    Undelivered,
)
from preopen.errors import EscalationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from preopen.actors._address import Address, ThreadLedger
    from preopen.actors._restart import RestartPolicy
    from preopen.actors._status import Board
    from preopen.clock import Clock

__all__ = ["ChildSpec", "Supervisor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start (and restart) one child.

    Attributes:
        address: the child's address; its name is the child's name.
        actor: the actor class.
        kwargs: keyword arguments for the class, besides its context.
    """

    address: Address
    actor: type[SupervisedActor]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The child's name."""
        return self.address.name


class Supervisor(pykka.ThreadingActor):
    """Starts, watches and restarts the runtime's actors.

    Args:
        specs: the children, in start order.
        policy: restart intensity, period and backoff.
        ledger: where every thread of the tree is recorded.
        board: the status board (written here only after escalation).
        clock: the runtime's clock (for the time of the escalation event).
        notify: told :class:`ChildRestarted` after each restart (the scheduler).
        on_escalate: called after the children are stopped on escalation
            (the runtime stops its clock thread there).
        stop_timeout: how long to wait for each child to stop.
    """

    def __init__(
        self,
        specs: tuple[ChildSpec, ...],
        *,
        policy: RestartPolicy,
        ledger: ThreadLedger,
        board: Board,
        clock: Clock,
        notify: Address | None = None,
        on_escalate: Callable[[], object] | None = None,
        stop_timeout: float = 5.0,
    ) -> None:
        """Create the supervisor (its children start in its own thread)."""
        super().__init__()
        self._specs = specs
        self._policy = policy
        self._ledger = ledger
        self._board = board
        self._clock = clock
        self._notify = notify
        self._on_escalate = on_escalate
        self._stop_timeout = stop_timeout
        self._generation: dict[str, int] = {}
        self._buffered: dict[str, list[object]] = {}
        self._callbacks: list[Callable[[BaseException], object]] = []
        self._stopping = False
        self.escalation: EscalationError | None = None

    def on_start(self) -> None:
        """Start every child, in order."""
        self._ledger.record(threading.current_thread())
        for spec in self._specs:
            spec.address.attach(self.actor_ref)
        for spec in self._specs:
            self._start(spec, 1)

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401 - pykka's contract
        """Handle one message."""
        match message:
            case ChildFailed(child=child, generation=generation, error=error):
                self._failed(child, generation, error)
            case Undelivered(child=child, message=inner):
                self._deliver(child, inner)
            case OnFailure(callback=callback):
                self._callbacks.append(callback)
            case Children():
                return dict(self._generation)
            case _:
                return super().on_receive(message)
        return None

    def on_stop(self) -> None:
        """Stop the children, in the reverse order of their start."""
        self._stop_children()

    # --- restarts --------------------------------------------------------------

    def _start(self, spec: ChildSpec, generation: int) -> None:
        context = ChildContext(spec.name, generation, spec.address, self.actor_ref, self._ledger)
        ref = spec.actor.start(context, **spec.kwargs)
        self._generation[spec.name] = generation
        spec.address.bind(ref)
        for message in self._buffered.pop(spec.name, []):
            ref.tell(message)

    def _failed(self, child: str, generation: int, error: str) -> None:
        if self._stopping or self._generation.get(child) != generation:
            return  # a report about an incarnation already replaced, or a shutdown
        spec = next(s for s in self._specs if s.name == child)
        delay = self._policy.record(time.monotonic())
        if delay is None:
            self._escalate(child, error)
            return
        if delay > 0:
            # Backoff: a child that crashes on every start must not spin. The
            # delay is short and capped; the supervisor has nothing else to do.
            time.sleep(delay)
        logger.warning("restarting %s (generation %d) after %s", child, generation + 1, error)
        self._start(spec, generation + 1)
        if self._notify is not None:
            self._notify.tell(ChildRestarted(child, self._policy.restarts, error))

    def _deliver(self, child: str, message: object) -> None:
        if self._stopping:
            return
        spec = next((s for s in self._specs if s.name == child), None)
        if spec is None:
            return
        ref = spec.address.ref
        if ref is not None and ref.is_alive():
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                pass
            else:
                return
        # Dead, and its death not yet handled: keep it for the next incarnation.
        self._buffered.setdefault(child, []).append(message)

    # --- escalation and stop ---------------------------------------------------------

    def _escalate(self, child: str, error: str) -> None:
        escalation = EscalationError(child, self._policy.recent(time.monotonic()) + 1,
                                     self._policy.period_s, error)
        self.escalation = escalation
        logger.error("escalating: %s", escalation)
        self._stop_children()
        if self._on_escalate is not None:
            try:
                self._on_escalate()
            except Exception:
                logger.exception("the escalation hook failed")
        # The scheduler is stopped: the supervisor is now the board's single writer.
        status = self._board.status
        last = status.events[-1].seq if status.events else 0
        event = Event(last + 1, self._clock.now(), EventKind.ESCALATED, None, str(escalation))
        self._board.publish(replace(status, running=False, last_error=str(escalation),
                                    restarts=self._policy.restarts,
                                    escalations=status.escalations + 1,
                                    events=(*status.events, event)))
        for callback in self._callbacks:
            try:
                callback(escalation)
            except Exception:
                logger.exception("on_failure callback %r failed", callback)
        self.stop()

    def _stop_children(self) -> None:
        self._stopping = True
        for spec in reversed(self._specs):
            ref = spec.address.ref
            if ref is None:
                continue
            try:
                ref.stop(block=True, timeout=self._stop_timeout)
            except pykka.Timeout:
                logger.error("%s did not stop within %.1f sec", spec.name, self._stop_timeout)  # noqa: TRY400 - not an error path with a traceback worth logging
