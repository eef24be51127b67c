"""Where bars come from: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` picks the implementation from the URL's scheme; the
drivers load on first use, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from preopen.errors import redact_url
from preopen.store._base import DEFAULT_LOAD_TIMEOUT, BarStore, open_store
from preopen.storeurl import ACCEPTED_SCHEMES, StoreUrl, parse_store_url

if TYPE_CHECKING:
    from preopen.store._fallback import FallbackReport, FallbackStore
    from preopen.store._fingerprint import EMPTY, Fingerprint, fingerprint, fingerprints_of
    from preopen.store._flight import (
        LACKS,
        FlightStore,
        Request,
        bars_to_arrow,
        require_arrow,
        schema,
    )

__all__ = [
    "ACCEPTED_SCHEMES",
    "DEFAULT_LOAD_TIMEOUT",
    "EMPTY",
    "LACKS",
    "BarStore",
    "FallbackReport",
    "FallbackStore",
    "Fingerprint",
    "FlightStore",
    "Request",
    "StoreUrl",
    "bars_to_arrow",
    "fingerprint",
    "fingerprints_of",
    "open_store",
    "parse_store_url",
    "redact_url",
    "require_arrow",
    "schema",
]

# numpy loads only when a fingerprint, a list of stores or a hub is asked for
# (settings check URLs here).
_LAZY = {
    **dict.fromkeys(("EMPTY", "Fingerprint", "fingerprint", "fingerprints_of"),
                    "preopen.store._fingerprint"),
    **dict.fromkeys(("FallbackReport", "FallbackStore"), "preopen.store._fallback"),
    **dict.fromkeys(("LACKS", "FlightStore", "Request", "bars_to_arrow", "require_arrow",
                     "schema"), "preopen.store._flight"),
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the lazy name is
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'preopen.store' has no attribute {name!r}")
