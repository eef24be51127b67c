"""Where bars come from: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` picks the implementation from the URL's scheme; the
drivers load on first use, so importing this package stays light.
"""

from __future__ import annotations

from preopen.store._base import ACCEPTED_SCHEMES, BarStore, open_store, redact_url
from preopen.store._fallback import FallbackReport, FallbackStore
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
    "LACKS",
    "BarStore",
    "FallbackReport",
    "FallbackStore",
    "FlightStore",
    "Request",
    "bars_to_arrow",
    "open_store",
    "redact_url",
    "require_arrow",
    "schema",
]
