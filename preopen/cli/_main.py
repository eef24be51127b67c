"""The Typer application, its sub-commands, and the exit-code contract."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

import typer

from preopen.cli import _calendar
from preopen.cli._common import BadInputError
from preopen.errors import CalendarError, PreopenError, SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "app", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_BAD_INPUT: Final = 2

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


def _error(message: str) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"preopen: error: {first}", file=sys.stderr)  # noqa: T201 - the one-line error contract


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit per outcome
    """Run one command; return its exit code (0 ok, 1 failure, 2 bad input).

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
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
        result = command.main(args=args, prog_name="preopen", standalone_mode=False)
    except typer.Abort:
        _error("interrupted")
        return EXIT_FAILURE
    except typer.TyperException as exc:
        # click's usage errors, as vendored by Typer: bad options, arguments, commands.
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "preopen"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _error(f"{message} (see: {path} --help)")
        return int(getattr(exc, "exit_code", EXIT_BAD_INPUT))
    except (BadInputError, SettingsError, CalendarError) as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except PreopenError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    if isinstance(result, int):
        return result
    return EXIT_OK
