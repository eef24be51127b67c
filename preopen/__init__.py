"""preopen: the next trading session's bars, in memory before the open.

The public API. Heavy names (the runtime, the stores) load lazily, so that
``import preopen.calendar`` does not drag in numpy, pykka or psycopg.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preopen.aio import AsyncRuntime
    from preopen.calendar import ExchangeCalendar, get_calendar
    from preopen.calendar.timing import Phase
    from preopen.clock import Clock, SimulatedClock, SystemClock
    from preopen.errors import (
        ArgumentTypeError,
        ArgumentValueError,
        BarsError,
        CalendarError,
        DateOutOfRangeError,
        EscalationError,
        NoSnapshotError,
        PreopenError,
        PreopenTimeoutError,
        RuntimeStoppedError,
        SettingsError,
        StopTimeoutError,
        StoreConnectionError,
        StoreError,
        StoreSchemaError,
        StoreUnavailableError,
    )
    from preopen.eventqueue import EventOverflow
    from preopen.model import Bars, SessionSnapshot, SnapshotFollower, ValidationReport, attach
    from preopen.runtime import Runtime
    from preopen.settings import Settings
    from preopen.status import ErrorInfo, Event, EventKind, Progress, RuntimeStatus
    from preopen.store import BarStore, open_store

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "AsyncRuntime",
    "BarStore",
    "Bars",
    "BarsError",
    "CalendarError",
    "Clock",
    "DateOutOfRangeError",
    "ErrorInfo",
    "EscalationError",
    "Event",
    "EventKind",
    "EventOverflow",
    "ExchangeCalendar",
    "NoSnapshotError",
    "Phase",
    "PreopenError",
    "PreopenTimeoutError",
    "Progress",
    "Runtime",
    "RuntimeStatus",
    "RuntimeStoppedError",
    "SessionSnapshot",
    "Settings",
    "SettingsError",
    "SimulatedClock",
    "SnapshotFollower",
    "StopTimeoutError",
    "StoreConnectionError",
    "StoreError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "SystemClock",
    "ValidationReport",
    "attach",
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
    "AsyncRuntime": "preopen.aio",
    "BarStore": "preopen.store",
    "Bars": "preopen.model",
    "BarsError": "preopen.errors",
    "CalendarError": "preopen.errors",
    "Clock": "preopen.clock",
    "DateOutOfRangeError": "preopen.errors",
    "ErrorInfo": "preopen.status",
    "EscalationError": "preopen.errors",
    "Event": "preopen.status",
    "EventKind": "preopen.status",
    "EventOverflow": "preopen.eventqueue",
    "ExchangeCalendar": "preopen.calendar",
    "NoSnapshotError": "preopen.errors",
    "Phase": "preopen.calendar.timing",
    "PreopenError": "preopen.errors",
    "PreopenTimeoutError": "preopen.errors",
    "Progress": "preopen.status",
    "Runtime": "preopen.runtime",
    "RuntimeStatus": "preopen.status",
    "RuntimeStoppedError": "preopen.errors",
    "SessionSnapshot": "preopen.model",
    "Settings": "preopen.settings",
    "SettingsError": "preopen.errors",
    "SimulatedClock": "preopen.clock",
    "SnapshotFollower": "preopen.model",
    "StopTimeoutError": "preopen.errors",
    "StoreConnectionError": "preopen.errors",
    "StoreError": "preopen.errors",
    "StoreSchemaError": "preopen.errors",
    "StoreUnavailableError": "preopen.errors",
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
