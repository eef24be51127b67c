"""Where bars come from: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` picks the implementation from the URL's scheme; the
drivers load on first use, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from preopen.store._base import (
    ACCEPTED_SCHEMES,
    DEFAULT_LOAD_TIMEOUT,
    BarStore,
    StoreUrl,
    open_store,
    parse_store_url,
    redact_url,
)

if TYPE_CHECKING:
    from preopen.store._fingerprint import EMPTY, Fingerprint, fingerprint, fingerprints_of

__all__ = [
    "ACCEPTED_SCHEMES",
    "DEFAULT_LOAD_TIMEOUT",
    "EMPTY",
    "BarStore",
    "Fingerprint",
    "StoreUrl",
    "fingerprint",
    "fingerprints_of",
    "open_store",
    "parse_store_url",
    "redact_url",
]

# numpy loads only when a fingerprint is asked for (settings check URLs here).
_LAZY = frozenset({"EMPTY", "Fingerprint", "fingerprint", "fingerprints_of"})


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the lazy name is
    if name in _LAZY:
        return getattr(importlib.import_module("preopen.store._fingerprint"), name)
    raise AttributeError(f"module 'preopen.store' has no attribute {name!r}")
