"""Options shared by several commands, and how they become Settings."""

from __future__ import annotations

from typing import Annotated

import typer

from preopen.cli._common import BadInputError
from preopen.symbols import SYMBOL_RULE, is_symbol

__all__ = [
    "ConfigOption",
    "StoreOption",
    "parse_count",
    "parse_intervals",
    "parse_symbol_list",
]

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config", metavar="FILE", help="A settings TOML file (see examples/preopen.toml)."
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", metavar="URL", help="sqlite:///path/to/file.db or postgresql://user@host:port/db"
    ),
]


def parse_count(option: str, text: str, *, low: int = 1, high: int = 1_000_000) -> int:
    """A whole number in ``low..high`` given to ``option``."""
    try:
        value = int(text)
    except ValueError:
        raise BadInputError(option, text, f"a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise BadInputError(option, text, f"a whole number from {low} to {high}")
    return value


def parse_intervals(option: str, text: str) -> tuple[str, ...]:
    """Comma-separated intervals, each one the model knows, each once."""
    from preopen.model import INTERVALS  # noqa: PLC0415 - numpy only when needed

    parts = tuple(p.strip() for p in text.split(","))
    accepted = f"a comma-separated list of {', '.join(INTERVALS)}"
    if not all(parts):
        raise BadInputError(option, text, accepted)
    for part in parts:
        if part not in INTERVALS:
            raise BadInputError(option, part, accepted)
    if len(set(parts)) != len(parts):
        raise BadInputError(option, text, f"{accepted}, each once")
    return parts


def parse_symbol_list(option: str, text: str) -> tuple[str, ...]:
    """Comma-separated symbols, none empty, none twice."""
    parts = tuple(p.strip() for p in text.split(","))
    if not parts or not all(is_symbol(p) for p in parts):
        raise BadInputError(option, text, f"a comma-separated list of symbols, each {SYMBOL_RULE}")
    if len(set(parts)) != len(parts):
        raise BadInputError(option, text, "each symbol once")
    return parts
