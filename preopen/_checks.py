"""Argument checks at the top of the Runtime's public calls (and AsyncRuntime's).

A wrong argument fails at once with an error naming it, instead of
reaching an actor and surfacing later as a timeout.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from preopen.calendar.timing import Phase
from preopen.errors import ArgumentTypeError, ArgumentValueError
from preopen.symbols import SYMBOL_RULE, is_symbol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from preopen.status import RuntimeStatus

__all__ = ["check_start_arguments", "check_symbols", "check_timeout", "wait_condition"]


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


def check_symbols(symbols: Iterable[str] | None) -> frozenset[str] | None:
    """The symbols of ``set_symbols``: an iterable of symbols, once each, or None for all.

    Raises:
        TypeError: a bare string instead of an iterable of symbols.
        ValueError: a symbol that breaks the symbol rule (:mod:`preopen.symbols`).
    """
    if symbols is None:
        return None
    if isinstance(symbols, str):
        msg = (f"symbols={symbols!r} is not accepted: an iterable of symbol strings "
               "(e.g. ['AAPL', 'MSFT']), or None for every symbol in the store")
        raise TypeError(msg)
    out = frozenset(symbols)
    bad = sorted((s for s in out if not is_symbol(s)), key=repr)
    if bad:
        msg = f"symbols {bad!r} are not accepted: each symbol is {SYMBOL_RULE}"
        raise ValueError(msg)
    return out


def wait_condition(
    condition: Phase | Callable[[RuntimeStatus], bool],
) -> tuple[Callable[[RuntimeStatus], bool], str]:
    """``wait_for``'s condition as a predicate on the status, and its name for the errors."""
    if isinstance(condition, Phase):
        phase = condition

        def in_phase(status: RuntimeStatus) -> bool:
            return status.phase is phase

        return in_phase, f"phase {phase.value}"
    return condition, getattr(condition, "__name__", "condition")
