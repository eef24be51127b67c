"""Every error preopen raises.

Each class subclasses :class:`PreopenError` and the builtin it refines, so a
host can catch either, and carries its context as attributes. Messages are
lowercase and carry the values (``window_minutes=-5 is not accepted: ...``).

The classes live by family (``_base``: the base and refused arguments and
settings; ``_calendar``; ``_store``; ``_runtime``; ``_data``: bars and
snapshots); import them from here.
"""

from __future__ import annotations

from preopen.errors._base import (
    ArgumentTypeError,
    ArgumentValueError,
    MissingExtraError,
    PreopenError,
    SettingsError,
)
from preopen.errors._calendar import (
    CalendarError,
    CalendarFileError,
    DateOutOfRangeError,
    NotASessionError,
    UnknownExchangeError,
)
from preopen.errors._data import (
    BarsError,
    ChecksumMismatchError,
    LiveGapError,
    LiveJoinError,
    LiveOverlapError,
    PublishError,
    SnapshotFileError,
)
from preopen.errors._runtime import (
    EscalationError,
    NoSnapshotError,
    PreopenTimeoutError,
    RuntimeStoppedError,
    StopTimeoutError,
)
from preopen.errors._store import (
    StaleSessionError,
    StoreConnectionError,
    StoreDataError,
    StoreError,
    StoreInterruptedError,
    StoreLacksError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreUrlError,
    StoreWideError,
    is_store_wide,
    is_transient,
    redact_url,
)

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "BarsError",
    "CalendarError",
    "CalendarFileError",
    "ChecksumMismatchError",
    "DateOutOfRangeError",
    "EscalationError",
    "LiveGapError",
    "LiveJoinError",
    "LiveOverlapError",
    "MissingExtraError",
    "NoSnapshotError",
    "NotASessionError",
    "PreopenError",
    "PreopenTimeoutError",
    "PublishError",
    "RuntimeStoppedError",
    "SettingsError",
    "SnapshotFileError",
    "StaleSessionError",
    "StopTimeoutError",
    "StoreConnectionError",
    "StoreDataError",
    "StoreError",
    "StoreInterruptedError",
    "StoreLacksError",
    "StoreSchemaError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "StoreUrlError",
    "StoreWideError",
    "UnknownExchangeError",
    "is_store_wide",
    "is_transient",
    "redact_url",
]

# Every error is shown, pickled and recorded (``ErrorInfo.type``) as
# ``preopen.errors.<Name>``, the module a host imports it from; so are the functions.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
