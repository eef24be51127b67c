"""Freezing a session's loaded bars into one validated SessionSnapshot."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.model import Bars, SessionSnapshot, validate

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

    The Bars are not copied: the snapshot refers to the loaders' read-only
    arrays.
    """
    report = validate(data, calendar, spec.trailing, spec.intervals)
    return SessionSnapshot(
        session=spec.session,
        open=spec.open,
        close=spec.close,
        data=MappingProxyType(dict(data)),
        report=report,
        built_at=built_at,
    )


def empty_bars(symbol: str, interval: str) -> Bars:
    """The Bars of a symbol the store had nothing for."""
    return Bars.empty(symbol, interval)
