"""preopen: the next trading session's bars, in memory before the open.

The public API. Heavy names (the runtime, the stores) load lazily, so that
``import preopen.calendar`` does not drag in numpy, pykka or psycopg.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preopen.calendar import ExchangeCalendar, get_calendar
    from preopen.calendar.timing import Phase
    from preopen.clock import Clock, SimulatedClock, SystemClock
    from preopen.errors import (
        ArgumentTypeError,
        ArgumentValueError,
        CalendarError,
        PreopenError,
        SettingsError,
        StoreError,
    )
    from preopen.model import Bars, SessionSnapshot, ValidationReport
    from preopen.runtime import Runtime, RuntimeStatus
    from preopen.settings import Settings
    from preopen.store import BarStore, open_store

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
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
    "StoreError",
    "SystemClock",
    "ValidationReport",
    "get_calendar",
    "open_store",
]

# A library logs, the host decides where to. Without a handler of their own,
# Python's last-resort handler prints warnings on the stderr of a host that
# configured no logging: preopen's own (a restarted loader) and those of the
# psycopg_pool pools its PostgreSQL store opens (a lost connection, retried).
# A NullHandler only silences that fallback: once the host configures logging,
# both loggers propagate to its handlers as before. psycopg_pool logs every
# pool under the one "psycopg.pool" logger, so a host's own pools are quiet
# too until it configures logging, which is the library convention.
for _name in ("preopen", "psycopg.pool"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
del _name

# Where each public name lives; imported on first access (PEP 562).
_LAZY = {
    "ArgumentTypeError": "preopen.errors",
    "ArgumentValueError": "preopen.errors",
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
    "StoreError": "preopen.errors",
    "SystemClock": "preopen.clock",
    "ValidationReport": "preopen.model",
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
