"""The one rule for a symbol, shared by the settings, ``Runtime.set_symbols`` and the CLI."""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["SYMBOL_RULE", "is_symbol"]

#: What a symbol may be, in the words of every refusal.
SYMBOL_RULE = "a non-empty string without surrounding spaces"


def is_symbol(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an acceptable symbol: a non-empty string without surrounding spaces."""
    return isinstance(value, str) and bool(value) and value == value.strip()
