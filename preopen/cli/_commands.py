"""Register the commands that need the runtime or a store.

They are imported only when such a command runs, so that ``preopen
calendar ...`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from preopen.cli import _demo, _seed, _serve, _show

if TYPE_CHECKING:
    import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add demo, serve, prefetch, seed and show to ``app``."""
    app.command("demo")(_demo.demo)
    app.command("serve")(_serve.serve)
    app.command("prefetch")(_serve.prefetch)
    app.command("seed")(_seed.seed)
    app.command("show")(_show.show)
