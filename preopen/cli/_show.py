"""``preopen show --attach DIR``: what is published in a publish directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from preopen.cli._common import BadInputError, console, print_json

__all__ = ["show"]

_SHOWN: Final = 10  # failed symbols listed by name


def show(
    attach: Annotated[
        str,
        typer.Option("--attach", help="A publish directory (the publish_dir setting)."),
    ],
    verify: Annotated[  # noqa: FBT002 - a CLI flag
        bool, typer.Option("--verify", help="Check every file's SHA-256 (reads every byte).")
    ] = False,
    as_json: Annotated[  # noqa: FBT002 - a CLI flag
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """What is published: the session, its files and its validation summary."""
    from preopen.model import SnapshotFollower  # noqa: PLC0415 - numpy loads only for this command

    directory = Path(attach)
    if not (directory / "manifest.json").is_file():
        raise BadInputError(
            "--attach", attach, "a directory holding a published snapshot (its manifest.json)"
        )
    with SnapshotFollower(directory) as follower:
        snapshot = follower.snapshot()
        manifest = follower.manifest
        verified = follower.verify() if verify else None
        follower.prepare()  # a publication staged for the next open, if any
        staged = follower.staged
    if manifest is None:  # pragma: no cover - snapshot() sets it
        raise BadInputError("--attach", attach, "a directory holding a published snapshot")
    report = snapshot.report
    summary: dict[str, Any] = {
        "directory": str(directory),
        "publication": manifest.name,
        "sequence": manifest.sequence,
        "session": snapshot.session.isoformat(),
        "open": snapshot.open.isoformat(),
        "close": snapshot.close.isoformat(),
        "built_at": snapshot.built_at.isoformat(),
        "symbols": len(snapshot.symbols),
        "bars": snapshot.nbars,
        "bytes": snapshot.nbytes,
        "tables": {
            interval: {
                "file": arrow.file,
                "bars": bars,
                "symbols": len(snapshot.table(interval).symbols),
                "file_bytes": arrow.size,
            }
            for interval, (arrow, _, bars) in manifest.tables.items()
        },
        "complete": report.complete,
        "ok": report.ok,
        "expected": report.expected,
        "found": report.found,
        "failed_symbols": list(report.failed_symbols),
        "verified_bytes": verified,
        "staged": None if staged is None else {
            "publication": staged.name, "session": staged.session.isoformat(),
        },
    }
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"published in {directory}", show_header=False)
    for key in ("publication", "session", "open", "close", "built_at"):
        table.add_row(key, str(summary[key]))
    table.add_row("symbols", f"{summary['symbols']:,}")
    table.add_row("bars", f"{summary['bars']:,} ({summary['bytes']:,} bytes)")
    for interval, entry in summary["tables"].items():
        table.add_row(
            f"table {interval}",
            f"{entry['bars']:,} bars of {entry['symbols']:,} symbols in {entry['file']}",
        )
    table.add_row("complete", f"{report.complete} ({report.found:,} of {report.expected:,} bars)")
    failed = report.failed_symbols
    more = len(failed) - _SHOWN
    shown = ", ".join(failed[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
    table.add_row("failed symbols", shown or "none")
    if verified is not None:
        table.add_row("checksums", f"ok ({verified:,} bytes verified)")
    if staged is not None:
        table.add_row("staged", f"{staged.name} ({staged.session}): current at its open")
    console.print(table)
