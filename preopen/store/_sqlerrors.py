"""What a sqlite3 error means for a caller: store-wide or not (see docs/architecture.md).

By the result code (``sqlite_errorcode``) when the error has one, else by its
message (an error raised by a test's connection class has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from preopen.errors import StoreError, StoreSchemaError, StoreWideError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["BUSY", "LOCKED", "classify", "result_code"]

# Primary result codes (sqlite3.h) that are the whole database's state.
BUSY, LOCKED = 5, 6
_STORE_WIDE_CODES: Final = {
    3: "permission denied",  # SQLITE_PERM
    8: "read-only",  # SQLITE_READONLY
    10: "disk i/o error",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "full",  # SQLITE_FULL
    14: "cannot open",  # SQLITE_CANTOPEN
    26: "not a database",  # SQLITE_NOTADB
}
_STORE_WIDE_WORDS: Final = (
    ("readonly", "read-only"),
    ("read-only", "read-only"),
    ("disk is full", "full"),
    ("database or disk is full", "full"),
    ("unable to open", "cannot open"),
    ("disk i/o error", "disk i/o error"),
    ("not a database", "not a database"),
    ("malformed", "corrupt"),
)




def result_code(exc: sqlite3.Error) -> int:
    """The primary result code of a sqlite3 error, 0 when it has none."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def classify(exc: sqlite3.Error, what: str, *, url: str) -> StoreError:
    """The StoreError for a sqlite3 error: store-wide (file, lock, space) or not."""
    text = str(exc)
    lowered = text.lower()
    state = _STORE_WIDE_CODES.get(result_code(exc)) or next(
        (name for word, name in _STORE_WIDE_WORDS if word in lowered), None
    )
    if state is not None:
        return StoreWideError(f"{what}: the database is {state}: {text}", url=url, reason=text)
    if "no such table" in lowered or "no such column" in lowered:
        return StoreSchemaError(f"{what}: {text}", url=url)
    return StoreError(f"{what}: {text}", url=url)
