"""Finding a calendar by name or by the path of its TOML description."""

from __future__ import annotations

from pathlib import Path

from preopen.calendar._calendar import ExchangeCalendar
from preopen.calendar._xnys import XNYS
from preopen.errors import CalendarError, CalendarFileError, UnknownExchangeError

__all__ = ["available_calendars", "get_calendar"]

_BUILT_IN = {XNYS.name: XNYS}

# One shared instance per built-in name. Filled idempotently without a lock:
# two threads that build the same calendar store equal, immutable values.
_INSTANCES: dict[str, ExchangeCalendar] = {}


def available_calendars() -> tuple[str, ...]:
    """The names :func:`get_calendar` knows without a file ("XNYS")."""
    return tuple(sorted(_BUILT_IN))


def _looks_like_path(name: str) -> bool:
    return name.lower().endswith(".toml") or "/" in name or "\\" in name


def get_calendar(name_or_path: str | Path) -> ExchangeCalendar:
    """The calendar of an exchange, by code or by the path of a TOML description.

    Args:
        name_or_path: a built-in code such as ``"XNYS"`` (case-insensitive), or
            the path of a ``*.toml`` calendar file (see :mod:`preopen.calendar._toml`).

    Returns:
        The calendar. Built-in calendars are shared instances; a file is read
        on every call, so an edited file is picked up.

    Raises:
        UnknownExchangeError: not a built-in code and not a path.
        CalendarFileError: the file cannot be read or is malformed.
    """
    if not isinstance(name_or_path, str | Path):
        raise UnknownExchangeError(repr(name_or_path), available_calendars())
    text = str(name_or_path).strip()
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        from preopen.calendar._toml import load_spec  # noqa: PLC0415 - keeps tomllib off the XNYS path

        spec = load_spec(text)
        try:
            return ExchangeCalendar(spec)
        except CalendarError as exc:
            raise CalendarFileError(text, str(exc)) from exc
    code = text.upper()
    calendar = _INSTANCES.get(code)
    if calendar is None:
        built_in = _BUILT_IN.get(code)
        if built_in is None:
            raise UnknownExchangeError(text, available_calendars())
        calendar = ExchangeCalendar(built_in)
        _INSTANCES[code] = calendar
    return calendar
