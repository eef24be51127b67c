"""preopen: the next trading session's bars, in memory before the open.

The public API. Heavy names (the runtime, the stores) load lazily, so that
``import preopen.calendar`` does not drag in numpy, pykka or psycopg.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preopen.calendar import ExchangeCalendar, get_calendar
    from preopen.calendar.timing import Phase
    from preopen.clock import Clock, SimulatedClock, SystemClock
    from preopen.errors import (
        CalendarError,
        PreopenError,
        SettingsError,
        StoreError,
    )
    from preopen.model import Bars, SessionSnapshot, SnapshotFollower, ValidationReport, attach
    from preopen.runtime import Runtime, RuntimeStatus
    from preopen.settings import Settings
    from preopen.store import BarStore, open_store

__all__ = [
    "BarStore",
    "Bars",
    "CalendarError",
    "Clock",
    "ExchangeCalendar",
    "Phase",
    "PreopenError",
    "Runtime",
    "RuntimeStatus",
    "SessionSnapshot",
    "Settings",
    "SettingsError",
    "SimulatedClock",
    "SnapshotFollower",
    "StoreError",
    "SystemClock",
    "ValidationReport",
    "attach",
    "get_calendar",
    "open_store",
]

# Where each public name lives; imported on first access (PEP 562).
_LAZY = {
    "BarStore": "preopen.store",
    "Bars": "preopen.model",
    "CalendarError": "preopen.errors",
    "Clock": "preopen.clock",
    "ExchangeCalendar": "preopen.calendar",
    "Phase": "preopen.calendar.timing",
    "PreopenError": "preopen.errors",
    "Runtime": "preopen.runtime",
    "RuntimeStatus": "preopen.runtime",
    "SessionSnapshot": "preopen.model",
    "Settings": "preopen.settings",
    "SettingsError": "preopen.errors",
    "SimulatedClock": "preopen.clock",
    "SnapshotFollower": "preopen.model",
    "StoreError": "preopen.errors",
    "SystemClock": "preopen.clock",
    "ValidationReport": "preopen.model",
    "attach": "preopen.model",
    "get_calendar": "preopen.calendar",
    "open_store": "preopen.store",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - returns whichever public name is asked for
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'preopen' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
