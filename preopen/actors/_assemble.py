"""Freezing a session's loaded bars into one validated SessionSnapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from preopen.model import Bars, SessionSnapshot

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pendulum

    from preopen.actors._prefetch import LoadSpec
    from preopen.calendar import ExchangeCalendar

__all__ = ["assemble", "empty_bars"]


def assemble(
    spec: LoadSpec,
    data: Mapping[tuple[str, str], Bars],
    calendar: ExchangeCalendar,
    built_at: pendulum.DateTime,
) -> SessionSnapshot:
    """Validate ``data`` against the calendar and freeze it as ``spec.session``'s snapshot.

    The Bars are concatenated once per interval into the snapshot's tables
    (see ``SessionSnapshot.assemble``).
    """
    return SessionSnapshot.assemble(
        spec.session, spec.open, spec.close, data, calendar, spec.trailing, spec.intervals,
        built_at,
    )


def empty_bars(symbol: str, interval: str) -> Bars:
    """The Bars of a symbol the store had nothing for."""
    return Bars.empty(symbol, interval)
