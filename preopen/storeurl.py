"""Store URLs: the one check of a URL and its table, and lists of URLs in one string.

Below both the settings and the stores, so that a URL a setting accepts is
one a store can open: a bad one raises
:class:`~preopen.errors.StoreUrlError` (bad input, a ``SettingsError`` too)
before any file is touched or any server is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from preopen.errors import StoreUrlError, redact_url

__all__ = [
    "ACCEPTED_SCHEMES",
    "StoreUrl",
    "parse_store_url",
    "split_store_list",
    "split_table",
]

#: The URL forms open_store accepts, in words (used in error messages).
ACCEPTED_SCHEMES: Final = (
    "sqlite:///path/to/file.db, postgresql://user@host:port/database, grpc://hub:port "
    "or a list of them"
)

# A list of stores in one string: split at a comma followed by a scheme, so that a
# libpq multi-host URL (postgresql://h1:5432,h2:5432/db) stays whole.
_STORE_SPLIT: Final = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_MAX_PARTS = 2  # schema.name
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TABLE_ACCEPTED: Final = (
    "name or schema.name, each a letter or underscore followed by letters, digits or "
    "underscores (at most 63)"
)


def split_table(table: str, *, url: str) -> tuple[str | None, str]:
    """Split ``schema.name`` or ``name`` into (schema or None, name).

    Raises:
        StoreUrlError: a name that is not one or two plain identifiers.
    """
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= _MAX_PARTS or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise StoreUrlError("table", str(table), _TABLE_ACCEPTED, url=url)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A checked store URL.

    Attributes:
        scheme: ``"sqlite"`` or ``"postgresql"``.
        url: the URL as given (it may hold a password: never print it).
        redacted: the URL with any password removed.
        schema: the table's schema, or None.
        table: the table's name.
        path: SQLite: the database file as written in the URL; else empty.
    """

    scheme: str
    url: str
    redacted: str
    schema: str | None
    table: str
    path: str = ""

    @property
    def qualified(self) -> str:
        """``schema.table`` or ``table``."""
        return f"{self.schema}.{self.table}" if self.schema else self.table


def parse_store_url(url: object, table: str | None = None) -> StoreUrl:
    """Check a store URL (and the table, given or from ``?table=``) without opening it.

    Raises:
        StoreUrlError: not a string, no ``scheme://``, an unknown scheme, a SQLite URL with no
            file (``sqlite:///``, ``sqlite:///:memory:``) or with a host, a
            schema-qualified table on SQLite, a bad table name.
    """
    redacted = redact_url(url)
    if not isinstance(url, str) or "://" not in url:
        raise StoreUrlError("store", redacted, f"a URL: {ACCEPTED_SCHEMES}", url=redacted)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if table is not None and not isinstance(table, str):
        raise StoreUrlError("table", repr(table), _TABLE_ACCEPTED, url=redacted)
    schema, name = split_table(table or query.get("table") or "bars", url=redacted)
    if scheme in {"postgresql", "postgres"}:
        return StoreUrl("postgresql", url, redacted, schema, name)
    if scheme in {"grpc", "grpc+tcp"}:
        return StoreUrl("grpc", url, redacted, schema, name)
    if scheme != "sqlite":
        raise StoreUrlError(
            "store", redacted, f"unknown scheme {scheme!r}: use {ACCEPTED_SCHEMES}", url=redacted
        )
    raw_path = url.split("://", 1)[1].split("?", 1)[0]
    if not raw_path.startswith("/") or raw_path.rstrip("/") == "" or raw_path == "/:memory:":
        raise StoreUrlError(
            "store",
            redacted,
            "sqlite:///relative/file.db or sqlite:////absolute/file.db (a file; no host, "
            "not :memory:)",
            url=redacted,
        )
    if schema is not None:
        raise StoreUrlError(
            "table",
            f"{schema}.{name}",
            "a plain table name on SQLite (a SQLite file has no schemas)",
            url=redacted,
        )
    return StoreUrl("sqlite", url, redacted, None, name, path=raw_path[1:])


def split_store_list(text: str) -> str | tuple[str, ...]:
    """One URL, or several separated by commas (each starting with its scheme)."""
    parts = tuple(part for part in _STORE_SPLIT.split(text.strip()) if part)
    return parts[0] if len(parts) == 1 else parts
