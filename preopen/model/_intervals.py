"""The bar intervals preopen knows, and how long each one is."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from preopen.errors import BarsError

__all__ = ["DAILY", "INTERVALS", "parse_interval"]

_MINUTE: Final = 60_000_000_000

#: Interval name -> length in nanoseconds. ``"1d"`` is one bar per session,
#: stamped at the session's open; its length here is nominal (one day).
INTERVALS: Final = MappingProxyType(
    {
        "1m": _MINUTE,
        "5m": 5 * _MINUTE,
        "15m": 15 * _MINUTE,
        "30m": 30 * _MINUTE,
        "1h": 60 * _MINUTE,
        "1d": 1440 * _MINUTE,
    }
)

#: The one interval whose bars are per session rather than per clock step.
DAILY: Final = "1d"


def parse_interval(interval: str) -> int:
    """Return the length of an interval in nanoseconds.

    Args:
        interval: an interval name such as ``"1m"`` or ``"1d"``.

    Returns:
        The interval's length in nanoseconds.

    Raises:
        BarsError: the name is not one of :data:`INTERVALS`.
    """
    try:
        return INTERVALS[interval]
    except (KeyError, TypeError):
        accepted = ", ".join(INTERVALS)
        raise BarsError(f"interval {interval!r} is not accepted: use one of {accepted}") from None
