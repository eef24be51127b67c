"""State that outlives an actor's crash, held by reference.

An actor that owns state the tree must not lose (the served snapshot, the
active symbols, the amended calendar) keeps it in a cell the runtime created
and hands to each incarnation. Each cell has exactly one writer, the actor
that owns it, which replaces one immutable value with one attribute
assignment (atomic in CPython); anyone may read it at any time, without a
lock or a message, and sees either the old value or the new one, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.actors._address import Address
    from preopen.calendar import ExchangeCalendar
    from preopen.model import SessionSnapshot

__all__ = ["CalendarCell", "CalendarState", "SessionCell", "SessionState"]


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the SessionDataActor holds.

    Attributes:
        snapshot: the snapshot served to the host, if any.
        symbols: the active symbol set (``None``: every symbol in the store).
        callbacks: called after each activation.
    """

    snapshot: SessionSnapshot | None = None
    symbols: frozenset[str] | None = None
    callbacks: tuple[Callable[[SessionSnapshot], object], ...] = ()


class SessionCell:
    """The SessionDataActor's state; written by it alone, read by the host."""

    __slots__ = ("state",)

    def __init__(self, state: SessionState) -> None:
        """Hold ``state``."""
        self.state = state


@dataclass(frozen=True, slots=True)
class CalendarState:
    """What the CalendarActor holds: the calendar and who to tell of changes."""

    calendar: ExchangeCalendar
    subscribers: tuple[tuple[Address, bool], ...] = ()


class CalendarCell:
    """The CalendarActor's state; written by it alone."""

    __slots__ = ("state",)

    def __init__(self, state: CalendarState) -> None:
        """Hold ``state``."""
        self.state = state
