"""Addresses that survive restarts, and the runtime's thread ledger.

An :class:`Address` names a supervised child ("loader-0", "scheduler", ...)
and holds the ActorRef of its current incarnation. Only the supervisor
writes that reference (one attribute assignment, atomic in CPython), after
each (re)start; everyone else only reads it. A message told to an address
whose actor has died is handed to the supervisor as
:class:`~preopen.actors.messages.Undelivered`, which delivers it to the next
incarnation: the supervisor handles its messages one at a time, so a message
is either delivered to the new reference or buffered until the restart, and
never told to a stale reference on purpose.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import pykka

from preopen.actors.messages import Undelivered

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

__all__ = ["Address", "ThreadLedger"]


class Address:
    """The supervisor-kept way to reach one child, across its restarts.

    Args:
        name: the child's name in the supervision tree.
    """

    __slots__ = ("_supervisor", "name", "ref")

    def __init__(self, name: str) -> None:
        """Create an address not yet bound to an actor."""
        self.name = name
        # Written only by the supervisor (bind), read by anyone.
        self.ref: pykka.ActorRef[Any] | None = None
        self._supervisor: pykka.ActorRef[Any] | None = None

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Route undeliverable messages to ``supervisor`` (before any child starts).

        A child may be told something before its supervisor has bound its
        address (its own ``on_start`` can trigger a reply to itself): such a
        message is handed to the supervisor, which delivers it after the bind.
        """
        self._supervisor = supervisor

    def bind(self, ref: pykka.ActorRef[Any]) -> None:
        """Point the address at a new incarnation (the supervisor's job)."""
        self.ref = ref

    def tell(self, message: object) -> bool:
        """Tell the current incarnation; hand the message to the supervisor if it is dead.

        Returns:
            ``True`` if told to a live actor or handed to the supervisor,
            ``False`` if the tree is gone (the runtime is stopped).
        """
        ref = self.ref
        if ref is not None:
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                pass
            else:
                return True
        supervisor = self._supervisor
        if supervisor is None:
            return False
        try:
            supervisor.tell(Undelivered(self.name, message))
        except pykka.ActorDeadError:
            return False
        return True

    def ask(self, message: object, timeout: float) -> Any:  # noqa: ANN401 - whatever the actor answers
        """Ask the current incarnation, waiting at most ``timeout`` seconds (host side only).

        Raises:
            pykka.ActorDeadError: no live incarnation.
            pykka.Timeout: no answer in time.
        """
        ref = self.ref
        if ref is None:
            msg = f"{self.name} is not started"
            raise pykka.ActorDeadError(msg)
        return ref.ask(message, timeout=timeout)

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
