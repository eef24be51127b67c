"""The Typer application, its sub-commands, and the exit-code contract.

Whatever a command raises ends here as one line on stderr and an exit code:
0 success, 1 a failure at run time, 2 bad input, 130 interrupted (Ctrl-C).
An error nobody foresaw is one line too (its type and message); set
``PREOPEN_DEBUG=1`` to see its traceback. No line printed here carries a
password: any ``user:password@`` or ``password=`` in a message is masked.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, Final

import typer

from preopen.cli import _calendar
from preopen.cli._common import BadInputError, mask_passwords
from preopen.errors import (
    ArgumentTypeError,
    ArgumentValueError,
    CalendarError,
    PreopenError,
    SettingsError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "app", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as a shell reports it
DEBUG_VARIABLE: Final = "PREOPEN_DEBUG"

#: Errors that mean "the input was wrong", as opposed to "it failed".
_BAD_INPUT: Final = (
    BadInputError,
    SettingsError,
    CalendarError,
    ArgumentTypeError,
    ArgumentValueError,
)

app = typer.Typer(
    name="preopen",
    help="Prefetch the next trading session's bars before the open.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_calendar.app, name="calendar")


def _register_optional() -> None:
    """Add the commands whose modules need the runtime (imported lazily)."""
    from preopen.cli import _commands  # noqa: PLC0415 - keeps `calendar` light

    _commands.register(app)


def _line(message: str) -> None:
    print(mask_passwords(message), file=sys.stderr)  # noqa: T201 - the one-line error contract


def _error(message: str) -> None:
    stripped = message.strip()
    first = stripped.splitlines()[0] if stripped else "unknown error"
    _line(f"preopen: error: {first}")


def _debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failure, 2 bad input, 130 interrupted).

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        _line("preopen: interrupted")
        return EXIT_INTERRUPTED


def _run(args: list[str]) -> int:  # noqa: PLR0911 - one exit per outcome
    if not args or args[0] != "calendar":
        _register_optional()
    command = typer.main.get_command(app)
    if not args:
        usage = command.get_help(
            command.make_context("preopen", ["--help"], resilient_parsing=True)
        )
        print(usage, file=sys.stderr)  # noqa: T201 - usage on stderr
        return EXIT_BAD_INPUT
    try:
        with command.make_context("preopen", args) as ctx:
            result = command.invoke(ctx)
        return result if isinstance(result, int) else EXIT_OK
    except typer.Exit as exc:  # --help, and a command's explicit exit code
        return int(exc.exit_code)
    except typer.Abort:
        _line("preopen: interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:
        # click's usage errors, as vendored by Typer: bad options, arguments, commands.
        failed = getattr(exc, "ctx", None)
        path = failed.command_path if failed is not None else "preopen"
        _error(f"{exc.format_message()} (see: {path} --help)")
        return EXIT_BAD_INPUT
    except _BAD_INPUT as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except PreopenError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if _debug():
            traceback.print_exc()
        hint = "" if _debug() else f" (set {DEBUG_VARIABLE}=1 for the traceback)"
        _error(f"unexpected {type(exc).__name__}: {exc}{hint}")
        return EXIT_FAILURE

