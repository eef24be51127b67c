"""The Supervisor, the root of preopen's actor tree, and its restart rule.

pykka has no supervision, so preopen brings its own, after Erlang/OTP's
one-for-one supervisor, on pykka's public API only:

- it starts its children from typed :class:`ChildSpec` values, in order,
  binds each child's :class:`~preopen.actors.child.Address` to the new
  ActorRef, and re-sends what the address holds for it (messages told
  before the start, or to a dead incarnation);
- a child reports its own death (:class:`~preopen.actors.child.SupervisedActor`);
  the supervisor then restarts that child alone, with the same wiring (its
  durable state is in the cells it is handed again), after the backoff of
  its :class:`RestartPolicy`, re-sends what the dead incarnation had not
  handled, and tells the scheduler so it can re-send the work the child held;
- past the restart intensity it escalates: it stops every child in the
  reverse order of their start, publishes the reason on the status board,
  calls the host's ``on_failure`` callbacks, and stops itself;
- stopping it tells every child to stop at once (in reverse order of their
  start) and does not wait: whoever stopped it (the runtime) joins every
  thread of the tree against one deadline. On escalation it waits itself,
  for all of them together, within one ``stop_timeout``.

Reports carry the child's generation, so a late report about an incarnation
already replaced is ignored.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pykka

from preopen.actors.child import ChildContext, SupervisedActor, describe, receive, resolve
from preopen.actors.messages import ChildFailed, Children, ChildRestarted, OnFailure
from preopen.backoff import Backoff
from preopen.errors import EscalationError, RuntimeStoppedError
from preopen.status import Event, EventKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from preopen.actors.child import Address, ChildKey, ThreadLedger
    from preopen.actors.tree import Board
    from preopen.clock import Clock
    from preopen.status import ErrorInfo

__all__ = ["ChildSpec", "RestartPolicy", "Supervisor"]

logger = logging.getLogger(__name__)

W_co = TypeVar("W_co", covariant=True)


@dataclass(frozen=True, slots=True)
class ChildSpec(Generic[W_co]):
    """How to start (and restart) one child.

    Attributes:
        address: the child's address; its key is the child's key.
        actor: the actor class.
        wiring: what the actor is connected to, of the type its class takes.
    """

    address: Address
    actor: type[SupervisedActor[W_co]]
    wiring: W_co

    @property
    def key(self) -> ChildKey:
        """The child's key."""
        return self.address.key


class RestartPolicy:
    """Counts restarts and decides: restart after a delay, or escalate.

    The OTP rule: at most ``intensity`` restarts within any ``period_s``
    seconds; one more escalates. The first restart in a quiet period is
    immediate (a dead loader is replaced at once); the next ones wait
    ``base_s``, ``2 * base_s``, ... up to ``cap_s``, each scaled by a random
    factor in [0.5, 1): :class:`~preopen.backoff.Backoff` centred on three
    quarters of that, with a jitter of a third.

    Args:
        intensity: restarts allowed within ``period_s`` (>= 0).
        period_s: the sliding period in seconds (> 0).
        base_s: the backoff after the first restart of a burst.
        cap_s: the longest backoff.
        seed: seeds the jitter (for reproducible tests).

    Raises:
        ValueError: a negative intensity or a non-positive period.
    """

    def __init__(self, intensity: int, period_s: float, *, base_s: float = 0.01,
                 cap_s: float = 0.5, seed: int | None = None) -> None:
        """Create the policy with no restart counted."""
        if intensity < 0:
            msg = f"intensity={intensity} is not accepted: an integer >= 0"
            raise ValueError(msg)
        if period_s <= 0:
            msg = f"period_s={period_s} is not accepted: a number of seconds > 0"
            raise ValueError(msg)
        self.intensity = intensity
        self.period_s = period_s
        self.backoff = Backoff(initial=0.75 * base_s, cap=0.75 * cap_s, jitter=1 / 3)
        self.restarts = 0
        self._recent: deque[float] = deque()
        self._random = random.Random(seed)  # noqa: S311 - jitter, not cryptography

    def recent(self, now: float) -> int:
        """Restarts within the period ending at ``now``."""
        while self._recent and now - self._recent[0] > self.period_s:
            self._recent.popleft()
        return len(self._recent)

    def record(self, now: float) -> float | None:
        """A child died at ``now`` (monotonic seconds).

        Returns:
            The delay before restarting it, or ``None`` to escalate (the
            restart would exceed the intensity).
        """
        count = self.recent(now)
        if count >= self.intensity:
            return None
        self._recent.append(now)
        self.restarts += 1
        if count == 0:
            return 0.0
        return self.backoff.delay(count, self._random.random())


class Supervisor(pykka.ThreadingActor):
    """Starts, watches and restarts the runtime's actors.

    Args:
        address: its own address (children report their deaths to it).
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
        address: Address,
        specs: Sequence[ChildSpec[object]],
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
        self._address = address
        address.bind(self.actor_ref)  # before any child can report to it
        self._specs = tuple(specs)
        self._policy = policy
        self._ledger = ledger
        self._board = board
        self._clock = clock
        self._notify = notify
        self._on_escalate = on_escalate
        self._stop_timeout = stop_timeout
        self._generation: dict[ChildKey, int] = {}
        self._callbacks: list[Callable[[BaseException], object]] = []
        self._stopping = False
        self.escalation: EscalationError | None = None

    def on_start(self) -> None:
        """Name and record its thread, then start every child, in order."""
        thread = threading.current_thread()
        thread.name = "preopen-supervisor"
        self._ledger.record(thread)
        for spec in self._specs:
            spec.address.attach(self.actor_ref)
        for spec in self._specs:
            self._start(spec, 1)

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401 - pykka's contract
        """Handle one message (numbered when told through the supervisor's address)."""
        return receive(self._address.outstanding, message, self._handle)[1]

    def _handle(self, message: object) -> None:
        match message:
            case ChildFailed(child=child, generation=generation, error=error, failure=failure):
                self._failed(child, generation, error, failure)
            case OnFailure(callback=callback, reply=reply):
                self._callbacks.append(callback)
                resolve(reply)
            case Children(reply=reply):
                resolve(reply, {key.name: gen for key, gen in self._generation.items()})
            case _:
                msg = f"the supervisor cannot handle {type(message).__name__}"
                raise TypeError(msg)

    def on_stop(self) -> None:
        """Tell every child to stop, in the reverse order of their start; do not wait."""
        self._stop_children(wait=False)

    # --- restarts --------------------------------------------------------------

    def _start(self, spec: ChildSpec[object], generation: int) -> None:
        context = ChildContext(spec.key, generation, spec.address, self._address, self._ledger)
        ref = spec.actor.start(context, spec.wiring)
        self._generation[spec.key] = generation
        spec.address.bind(ref)
        spec.address.resend()

    def _failed(self, child: ChildKey, generation: int, error: str,
                failure: ErrorInfo | None = None) -> None:
        if (self._stopping or self._address.outstanding.closed
                or self._generation.get(child) != generation):
            return  # a report about an incarnation already replaced, or a stop under way
        spec = next(s for s in self._specs if s.key == child)
        delay = self._policy.record(time.monotonic())
        if delay is None:
            self._escalate(child, error, failure)
            return
        if delay > 0:
            # Backoff: a child that crashes on every start must not spin. The
            # delay is short and capped; the supervisor has nothing else to do.
            time.sleep(delay)
        logger.warning("restarting %s (generation %d) after %s", child, generation + 1, error)
        self._start(spec, generation + 1)
        if self._notify is not None:
            self._notify.tell(ChildRestarted(child, self._policy.restarts, error, failure))

    # --- escalation and stop ---------------------------------------------------------

    def _escalate(self, child: ChildKey, error: str, failure: ErrorInfo | None) -> None:
        escalation = EscalationError(child.name, self._policy.recent(time.monotonic()) + 1,
                                     self._policy.period_s, error)
        self.escalation = escalation
        logger.error("escalating: %s", escalation)
        self._stop_children(wait=True)
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
                                    last_failure=failure or status.last_failure,
                                    restarts=self._policy.restarts,
                                    escalations=status.escalations + 1,
                                    events=(*status.events, event)))
        self._address.outstanding.close(RuntimeStoppedError(f"the runtime stopped: {escalation}"))
        for callback in self._callbacks:
            try:
                callback(escalation)
            except Exception as exc:
                logger.exception("on_failure callback %r failed", callback)
                self._record_callback_error(callback, exc)
        self.stop()

    def _record_callback_error(self, callback: object, error: Exception) -> None:
        """An ``error`` event in the status (``last_error`` keeps the escalation's reason)."""
        status = self._board.status
        last = status.events[-1].seq if status.events else 0
        name = getattr(callback, "__qualname__", repr(callback))
        event = Event(last + 1, self._clock.now(), EventKind.ERROR, None,
                      f"the on_failure callback {name} failed: {describe(error)}")
        self._board.publish(replace(status, events=(*status.events, event)))

    def _stop_children(self, *, wait: bool) -> None:
        """Tell every child to stop at once; with ``wait``, wait for all within one timeout.

        Parallel, not one after another: a child stuck in a store call must
        not keep the others running.
        """
        self._stopping = True
        stopping = []
        for spec in reversed(self._specs):
            ref = spec.address.ref
            if ref is not None and ref.is_alive():
                stopping.append((spec.key, ref.stop(block=False)))
        if not wait:
            return
        deadline = time.monotonic() + self._stop_timeout
        for key, future in stopping:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except pykka.Timeout:
                logger.error("%s did not stop within %.1f sec", key, self._stop_timeout)  # noqa: TRY400 - not an error path with a traceback worth logging
