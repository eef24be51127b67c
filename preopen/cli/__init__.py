"""The commands behind ``run.py`` and the ``preopen`` console script.

One CLI library does the parsing, the tables and the progress bars: Typer,
whose parsing is click's and whose output is rich's. Bad input never ends
in a traceback: it is one line on stderr and exit code 2; a failure at run
time is exit code 1.
"""

from __future__ import annotations

from preopen.cli._main import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, app, main

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "app", "main"]
