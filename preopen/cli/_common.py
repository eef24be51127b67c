"""What every command shares: the console, option parsing helpers, JSON output."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any, Final

from rich.console import Console

from preopen.errors import PreopenError

__all__ = [
    "BadInputError",
    "MaskPasswords",
    "PrefetchFailedError",
    "check_store_exists",
    "console",
    "mask_passwords",
    "parse_date",
    "print_json",
]

console = Console(highlight=False)

_URL_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'\"]*):[^\s/'\"]*@")
_KEYWORD_PASSWORD: Final = re.compile(r"(?i)(?P<head>password\s*=\s*)[^\s&'\"]+")


def mask_passwords(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` and ``password=`` masked."""
    text = _URL_PASSWORD.sub(r"\g<head>:***@", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


class MaskPasswords(logging.Filter):
    """A handler filter that masks passwords in every record it lets through (``serve``'s log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message in place; let every record through."""
        message = record.getMessage()
        masked = mask_passwords(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


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


class PrefetchFailedError(PreopenError, RuntimeError):
    """``prefetch`` ran but some symbols (or all) could not be loaded: exit 1."""


def check_store_exists(url: str | tuple[str, ...]) -> None:
    """Refuse a SQLite store whose file does not exist, saying how to seed one.

    Opening it would create an empty database that holds no bars (the
    default store is ``sqlite:///preopen.db``, in the current directory).
    PostgreSQL URLs are left to the store, which says what it could not reach;
    in a list of stores, only the last (the final fallback) is checked.
    """
    if not isinstance(url, str):
        url = url[-1]
    if not url.startswith("sqlite:///"):
        return
    seed_url = url.split("?", 1)[0]
    path = Path(seed_url.removeprefix("sqlite:///"))  # as the SQLite store reads it
    if not path.exists():
        raise BadInputError(
            "store",
            url,
            f"an existing SQLite file, and {path} does not exist (seed one with: "
            f"python run.py seed --store {seed_url}; or give --store or --config)",
        )


def parse_date(option: str, text: str) -> dt.date:
    """Parse an ISO date (``YYYY-MM-DD``) given to ``option``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInputError(option, text, "a date as YYYY-MM-DD") from None


def print_json(data: Any) -> None:  # noqa: ANN401 - any JSON-able value
    """Print one JSON document on stdout (no colours, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))  # noqa: T201 - machine-readable output
