"""What every command shares: the console, option parsing helpers, JSON output."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.console import Console

from preopen.errors import PreopenError

__all__ = ["BadInputError", "console", "parse_date", "print_json"]

console = Console(highlight=False)


class BadInputError(PreopenError, ValueError):
    """A command-line value that is not accepted.

    Attributes:
        option: the option or argument.
        value: the value given.
        accepted: what is accepted.
    """

    def __init__(self, option: str, value: object, accepted: str) -> None:
        self.option = option
        self.value = value
        self.accepted = accepted
        super().__init__(f"{option}={value!r} is not accepted: {accepted}")


def parse_date(option: str, text: str) -> dt.date:
    """Parse an ISO date (``YYYY-MM-DD``) given to ``option``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInputError(option, text, "a date as YYYY-MM-DD") from None


def print_json(data: Any) -> None:  # noqa: ANN401 - any JSON-able value
    """Print one JSON document on stdout (no colours, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))  # noqa: T201 - machine-readable output
