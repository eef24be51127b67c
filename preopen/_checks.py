"""Argument checks at the top of the Runtime's public calls.

A wrong argument fails at once with an error naming it, instead of
reaching an actor and surfacing later as a timeout.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from preopen.errors import ArgumentTypeError, ArgumentValueError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["check_start_arguments", "check_timeout"]


def check_timeout(value: object, name: str = "timeout") -> None:
    """A finite number of seconds, zero or more.

    Raises:
        ArgumentTypeError: not a number (a bool is not one either).
        ArgumentValueError: negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArgumentTypeError(name, value, "a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise ArgumentValueError(name, value, "a finite number of seconds, 0 or more")


_STORE_METHODS = ("load", "close")


def check_start_arguments(arguments: Mapping[str, object]) -> None:
    """The arguments of ``Runtime.start``: each of its type, or None for the default.

    Args:
        arguments: ``settings``, ``clock``, ``store``, ``calendar`` and
            ``timeout`` by name.

    Raises:
        ArgumentTypeError: an argument of another type, named with its value.
        ArgumentValueError: a timeout that is negative, NaN or infinite.
    """
    from preopen.calendar import ExchangeCalendar  # noqa: PLC0415 - light, loaded by the caller
    from preopen.clock import Clock  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415
    from preopen.store import BarStore  # noqa: PLC0415

    kinds: dict[str, tuple[type, str]] = {
        "settings": (Settings, "a preopen.Settings (e.g. Settings.load('preopen.toml'))"),
        "clock": (Clock, "a preopen Clock (SystemClock or SimulatedClock)"),
        "store": (BarStore, "a BarStore (e.g. preopen.open_store(url)), or set settings.store"),
        "calendar": (
            ExchangeCalendar,
            "an ExchangeCalendar (e.g. preopen.get_calendar('XNYS')), or set settings.exchange",
        ),
    }
    for name, (kind, accepted) in kinds.items():
        value = arguments.get(name)
        if value is None:
            continue
        if kind is BarStore:
            # A host's own store need only load and close: interrupt() and
            # fingerprints() are optional (the runtime asks with getattr).
            if not all(callable(getattr(value, m, None)) for m in _STORE_METHODS):
                raise ArgumentTypeError(name, value, accepted)
        elif not isinstance(value, kind):
            raise ArgumentTypeError(name, value, accepted)
    check_timeout(arguments.get("timeout", 0.0))
