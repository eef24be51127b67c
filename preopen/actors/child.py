"""A supervised child: its key, its address, and how it reports its death.

A child is named by a :class:`ChildKey` (a :class:`Role` and an index),
defined with the planner's orders in :mod:`preopen.planning.orders`, since
the planner addresses its orders with it too.

Every message to a child goes through its :class:`Address`, which numbers it
in the tree's :class:`Outstanding` ledger before telling the child's current
incarnation; the child strikes it off once handled. A message told to a
child as it dies therefore cannot be lost, whatever the interleaving: pykka's
``tell`` checks liveness and then enqueues, and a dying actor drains its
inbox once, so a message enqueued after that drain would be dropped; but it
is still in the ledger, and the supervisor re-sends every message of a child
still in the ledger to its next incarnation. A message that reaches an
incarnation twice (re-sent, and also told to the new reference) is handled
once: the second finds its number struck off. The message a child died on is
struck off by the dying child, so it is not re-sent (it would kill the next
incarnation too).

The ledger is also the tree's idea of "nothing left to do": when it is
empty, every message told, and everything its handling told in turn, has
been handled. A simulated clock waits for that after each tick (as trio's
MockClock leaves it to the run loop to see every task blocked).

A :class:`SupervisedActor` reports its death to its supervisor, in the two
ways an actor can die (pykka tells nobody): an exception from a told message
(pykka calls ``on_failure``), an exception in ``on_start`` (caught, reported,
re-raised). A stop the supervisor asked for is not a death. Each actor also
records its thread in the runtime's ledger, so that ``stop`` joins them all.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import pykka

from preopen.actors.messages import ChildFailed, Open, Tick
from preopen.planning import Activate
from preopen.planning.orders import ChildKey, Role
from preopen.status import ErrorInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

__all__ = [
    "Address",
    "ChildContext",
    "ChildKey",
    "Numbered",
    "Outstanding",
    "Role",
    "SupervisedActor",
    "ThreadLedger",
    "describe",
    "resolve",
]

W = TypeVar("W")

#: The messages on the open's path (see :attr:`Outstanding.urgent`).
URGENT: Final = (Tick, Open, Activate)

logger = logging.getLogger(__name__)


def is_urgent(message: object) -> bool:
    """Whether a host's read waits for ``message`` (see :attr:`Outstanding.urgent`).

    A tick or an open may be the open; an activation is a swap. Not urgent:
    what follows a swap already done at an armed open (the scheduler's tick
    and its confirming activation): the host reads the new snapshot already.
    """
    match message:
        case Tick(swapped=True) | Activate(armed=True):
            return False
        case _:
            return isinstance(message, URGENT)


def describe(error: BaseException | None) -> str:
    """A one-line description of an error: its class and message."""
    if error is None:
        return "unknown error"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def resolve(future: Future[Any], value: object = None, error: BaseException | None = None) -> None:
    """Set ``future``'s result (or ``error``) unless it is already set."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class Outstanding:
    """The messages told through the tree's addresses and not yet handled.

    Lock-free: numbers come from ``itertools.count`` and the ledger is a dict
    whose single-key operations (set, pop, copy) are atomic in CPython (as
    are a set's add and discard, for the urgent ones).

    *Urgent* messages are the open's path (:func:`is_urgent`): a
    :class:`Tick` (the clock's wake-up, which may be the open), an
    :class:`Open` and an :class:`Activate`. While one is
    outstanding a host's read gives the runtime's threads the interpreter
    (see ``Runtime.snapshot``), waiting on :attr:`calm`.

    Invariant of :attr:`calm` (no lock): it is resolved by whichever thread
    strikes off the last urgent message, after that message's effect (the
    swap, for an activation) is visible, and replaced by a pending one when
    an urgent message is posted while it is resolved. A post racing the
    last strike-off can leave a waiter woken early or a pending future with
    nothing urgent behind it: the waiter's own timeout bounds either.
    """

    def __init__(self) -> None:
        """Create an empty ledger."""
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[ChildKey, object]] = {}
        self._urgent: set[int] = set()
        self._calm: Future[None] = Future()
        self._calm.set_result(None)  # nothing urgent yet
        self._idle: deque[Future[None]] = deque()
        self._closed: BaseException | None = None

    def post(self, key: ChildKey, message: object) -> int:
        """Number ``message`` for ``key``'s child and keep it until :meth:`done`."""
        seq = next(self._ids)
        if is_urgent(message):
            self._urgent.add(seq)
            if self._calm.done():
                self._calm = Future()
        self._pending[seq] = (key, message)
        return seq

    def outstanding(self, seq: int) -> bool:
        """Whether message ``seq`` is still to be handled."""
        return seq in self._pending

    def done(self, seq: int) -> None:
        """Strike off message ``seq``; wake the idle waiters if nothing is left."""
        self._pending.pop(seq, None)
        self._urgent.discard(seq)
        self._calm_if_nothing_urgent()
        if not self._pending:
            self._wake()

    def of(self, key: ChildKey) -> list[tuple[int, object]]:
        """The messages still to be handled by ``key``'s child, oldest first."""
        items = self._pending.copy().items()
        return sorted((seq, message) for seq, (owner, message) in items if owner == key)

    @property
    def idle(self) -> bool:
        """Nothing told is left to handle."""
        return not self._pending

    @property
    def urgent(self) -> bool:
        """A tick or an activation is still to be handled (a set's truth: no lock)."""
        return bool(self._urgent)

    @property
    def calm(self) -> Future[None]:
        """Resolved once no tick or activation is left to handle (take it, then wait on it)."""
        return self._calm

    def settled(self, seq: int) -> None:
        """Message ``seq`` is no longer urgent: an activation whose swap is done."""
        self._urgent.discard(seq)
        self._calm_if_nothing_urgent()

    def _calm_if_nothing_urgent(self) -> None:
        calm = self._calm
        if self._urgent or calm.done():
            return
        with contextlib.suppress(InvalidStateError):  # resolved by a racing strike-off
            calm.set_result(None)
        if self._urgent and self._calm is calm:
            self._calm = Future()  # a post raced in: its waiters need a pending one

    @property
    def closed(self) -> bool:
        """The tree is stopping or stopped: work not yet begun is not begun."""
        return self._closed is not None

    def when_idle(self, future: Future[None]) -> None:
        """Set ``future`` once nothing is left to handle (at once if nothing is)."""
        self._idle.append(future)
        if self._closed is not None or not self._pending:
            self._wake()

    def close(self, error: BaseException) -> None:
        """The tree is gone: fail every idle waiter, now and later, with ``error``."""
        self._closed = error
        self._wake()

    def _wake(self) -> None:
        while True:
            try:
                future = self._idle.popleft()
            except IndexError:
                return
            resolve(future, error=self._closed)


class Address:
    """The way to reach one child, across its restarts.

    Only the supervisor writes ``ref`` (one attribute assignment, atomic in
    CPython), after each (re)start; everyone else only reads it.

    Args:
        key: which child.
        outstanding: the tree's ledger of messages not yet handled.
    """

    __slots__ = ("_supervisor", "key", "outstanding", "ref")

    def __init__(self, key: ChildKey, outstanding: Outstanding) -> None:
        """Create an address not yet bound to an actor."""
        self.key = key
        self.outstanding = outstanding
        self.ref: pykka.ActorRef[Any] | None = None
        self._supervisor: pykka.ActorRef[Any] | None = None

    @property
    def name(self) -> str:
        """The child's name."""
        return self.key.name

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Let ``supervisor`` re-send what a dead or not yet started child was told."""
        self._supervisor = supervisor

    def bind(self, ref: pykka.ActorRef[Any]) -> None:
        """Point the address at a new incarnation (the supervisor's job)."""
        self.ref = ref

    def tell(self, message: object) -> bool:
        """Tell the current incarnation, or leave it to the supervisor to re-send.

        Returns:
            ``True`` if told to a live actor or kept for the next incarnation,
            ``False`` if the tree is gone (the runtime is stopped).
        """
        seq = self.outstanding.post(self.key, message)
        ref = self.ref
        if ref is not None:
            try:
                ref.tell(Numbered(seq, message))
            except pykka.ActorDeadError:
                pass
            else:
                return True
        supervisor = self._supervisor
        if supervisor is not None and supervisor.is_alive():
            return True  # kept in the ledger: re-sent with the next incarnation
        self.outstanding.done(seq)
        return False

    def resend(self) -> int:
        """Tell the current incarnation every message still outstanding for it; return how many."""
        ref = self.ref
        if ref is None:
            return 0
        pending = self.outstanding.of(self.key)
        for seq, message in pending:
            ref.tell(Numbered(seq, message))
        return len(pending)

    def is_alive(self) -> bool:
        """Whether the current incarnation is alive."""
        ref = self.ref
        return ref is not None and ref.is_alive()

    def __repr__(self) -> str:
        """Show the name and whether it is alive."""
        return f"Address({self.name!r}, alive={self.is_alive()})"


class ThreadLedger:
    """Every thread the runtime started, so that ``stop`` can join them all.

    Append-only; ``deque.append`` is atomic in CPython, so actors may record
    their own thread from ``on_start`` with no lock.
    """

    def __init__(self) -> None:
        """Create an empty ledger."""
        self._threads: deque[threading.Thread] = deque()

    def record(self, thread: threading.Thread) -> None:
        """Remember ``thread``."""
        self._threads.append(thread)

    def __iter__(self) -> Iterator[threading.Thread]:
        """The threads recorded so far."""
        return iter(tuple(self._threads))

    def alive(self) -> tuple[threading.Thread, ...]:
        """The recorded threads still running."""
        return tuple(t for t in self._threads if t.is_alive())

    def __contains__(self, thread: object) -> bool:
        """Whether ``thread`` is one the runtime started (a callback runs in it)."""
        return any(t is thread for t in tuple(self._threads))


@dataclass(frozen=True, slots=True)
class ChildContext:
    """What a child knows of its place in the tree.

    Attributes:
        key: which child.
        generation: 1 for the first start, +1 at each restart.
        address: the child's own address (for ``reply_to``).
        supervisor: the supervisor's address, to report a death to
            (``None``: unsupervised).
        ledger: where the child records its thread.
    """

    key: ChildKey
    generation: int
    address: Address
    supervisor: Address | None
    ledger: ThreadLedger


class Numbered:
    """A message told through an address, numbered in the tree's ledger of outstanding ones.

    The envelope, not the message, is emptied by its receiver (:meth:`take`):
    pykka's inbox loop keeps the last envelope it got until the next one
    arrives, so a handled message's payload (a batch of 500 symbols' bars)
    would otherwise be freed when the next message comes, which may be the
    open tick (measured: 0.6-1.0 ms of deallocation before the scheduler saw
    the open at 10,000 symbols). The message itself stays immutable.
    """

    __slots__ = ("_message", "seq")

    def __init__(self, seq: int, message: object) -> None:
        """Wrap ``message`` as number ``seq``."""
        self.seq = seq
        self._message: object = message

    @property
    def message(self) -> object:
        """The message (None once taken)."""
        return self._message

    def take(self) -> object:
        """The message, leaving the envelope empty."""
        message, self._message = self._message, None
        return message

    def __repr__(self) -> str:
        """Number and message."""
        return f"Numbered({self.seq}, {self._message!r})"


def receive(outstanding: Outstanding, message: object,
            handle: Callable[[object], object]) -> tuple[int | None, object]:
    """Unwrap a numbered message and handle it once; return its number and the answer.

    A number already struck off is a duplicate (a re-sent message that was
    also told to the new incarnation): it is not handled again. The number
    is struck off only after a handling that did not raise; a raising one is
    struck off by the dying actor once its death is reported.
    """
    if not isinstance(message, Numbered):
        return None, handle(message)
    if not outstanding.outstanding(message.seq):
        return None, None
    # Taken out of the envelope pykka keeps: freed here, when handled (see Numbered).
    answer = handle(message.take())
    outstanding.done(message.seq)
    return message.seq, answer


class SupervisedActor(pykka.ThreadingActor, Generic[W]):
    """A pykka actor that reports its death to its supervisor.

    Subclasses handle messages in :meth:`handle` (not ``on_receive``) and put
    their start-up code in :meth:`started` (not ``on_start``).

    Args:
        context: its place in the tree.
        wiring: what it is connected to (a frozen dataclass per actor class).
    """

    def __init__(self, context: ChildContext, wiring: W) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__()
        self.context = context
        self.wiring = wiring
        self._current: int | None = None

    def on_start(self) -> None:
        """Name and record the thread, then run :meth:`started`; report a failure."""
        thread = threading.current_thread()
        thread.name = f"preopen-{self.context.key.name}"  # what a stop that runs out names
        self.context.ledger.record(thread)
        try:
            self.started()
        except Exception as exc:
            logger.exception("%s (generation %d) failed to start", self.context.key,
                             self.context.generation)
            self._report(exc)
            raise

    def started(self) -> None:
        """Start-up code, in the actor's thread (override)."""

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401 - pykka's contract
        """Unwrap a numbered message and :meth:`handle` it once."""
        if isinstance(message, Numbered):
            self._current = message.seq
        _, answer = receive(self.context.address.outstanding, message, self.handle)
        self._current = None
        return answer

    def handle(self, message: object) -> object:
        """Handle one message (override); an unknown message is an error."""
        msg = f"{self.context.key} cannot handle {type(message).__name__}"
        raise TypeError(msg)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Log the death with its stack, report it, strike off the message it died on.

        The message it died on is not re-sent (it would kill the next incarnation too).
        """
        if exception_value is not None:
            logger.error("%s (generation %d) crashed", self.context.key, self.context.generation,
                         exc_info=(exception_type or type(exception_value), exception_value,
                                   traceback))
        self._report(exception_value)
        current, self._current = self._current, None
        if current is not None:
            self.context.address.outstanding.done(current)

    def _report(self, error: BaseException | None) -> None:
        supervisor = self.context.supervisor
        if supervisor is not None:
            context = self.context
            failure = ErrorInfo.of(error, context.key.name) if error is not None else None
            supervisor.tell(ChildFailed(context.key, context.generation, describe(error), failure))
