"""A setting's value: strict coercion to its declared type, parsing from text, showing it.

One rule per type, keyed by the type a :class:`~preopen.settings.Settings`
field declares, so that a new setting needs no new code unless it has a new
type. The same rules check a file's values, the environment's text and
values given as arguments.
"""

from __future__ import annotations

import math
from typing import Any, Final

from preopen.errors import SettingsError, redact_url
from preopen.storeurl import split_store_list

__all__ = ["coerce", "from_text", "redact", "shown"]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def from_text(key: str, kind: Any, text: str, *, source: str) -> Any:  # noqa: ANN401, C901, PLR0911 - a return per type
    """Parse an environment variable's text into the key's type ``kind``."""
    raw = text.strip()
    if kind == int | None:
        kind = int
    if kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(key, text, "true or false (also 1/0, yes/no, on/off)", source=source)
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(key, text, "a whole number", source=source) from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(key, text, "a number", source=source) from None
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind == str | tuple[str, ...]:
        return split_store_list(raw)
    return raw


def coerce(  # noqa: C901, PLR0911, PLR0912 - a branch per type
    key: str, value: Any, kind: Any, *, source: str, split: bool = True  # noqa: ANN401
) -> Any:  # noqa: ANN401 - a value of the key's type
    """Accept a value of the key's type (ints for floats, lists for tuples); refuse the rest.

    Args:
        key: the setting.
        value: its value.
        kind: the key's declared type.
        source: where the value came from (for the error).
        split: accept a comma-separated string for a list (file, environment).
    """
    if kind == int | None:
        if value is None:
            return None
        kind = int
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(key, value, "true or false", source=source)
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(key, value, "a whole number", source=source)
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value if type(value) is float else float(value)
        raise SettingsError(key, value, "a finite number", source=source)
    if kind == tuple[str, ...]:
        if split and isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return value if type(value) is tuple else tuple(value)
        raise SettingsError(key, value, "a list of strings", source=source)
    if kind == str | tuple[str, ...]:
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return value[0] if len(value) == 1 else tuple(value)
        raise SettingsError(key, value, "a URL or a non-empty list of URLs", source=source)
    if kind is str:
        if isinstance(value, str):
            return value
        raise SettingsError(key, value, "a string", source=source)
    return value  # a type without a rule here is checked by the rules


def redact(url: str) -> str:
    """``url`` with any password removed (see :func:`preopen.errors.redact_url`)."""
    return redact_url(url)


def shown(value: object) -> object:
    """A value fit for an error message: a URL-like string loses its password."""
    return redact(value) if isinstance(value, str) and "@" in value else value
