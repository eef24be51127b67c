"""The manifest of a published snapshot: what is published, where, and its checksums.

A publish directory holds ``manifest.json`` (the current publication) and one
folder per publication, ``<sequence>-<session>/``, with per interval an
uncompressed Arrow IPC file (``1m.arrow``: symbol, ts, open .. volume) and its
symbol offsets (``1m.offsets.npy``), and the ValidationReport's counts
(``report.npy``). Paths in the manifest are relative to the directory.

A publication may be staged before it is current: its folder is in place and
``next.json`` holds its manifest, byte for byte the one that the flip (a
rename of ``next.json`` over ``manifest.json``) makes current. Readers map a
staged publication ahead of the flip and, at the flip, only compare bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from preopen.errors import SnapshotFileError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "STAGED",
    "FileEntry",
    "Manifest",
    "parse_manifest",
    "read_manifest",
    "read_manifest_bytes",
    "sha256_of",
]

MANIFEST: Final = "manifest.json"
#: The manifest of the publication staged for the next flip (absent when none is).
STAGED: Final = "next.json"
FORMAT: Final = "preopen-snapshot"
VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One published file: its path (relative to the directory), size and SHA-256."""

    file: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The manifest's form."""
        return {"file": self.file, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``manifest.json`` says (see the module docstring).

    Attributes:
        sequence: the publication's number, rising by one each time.
        name: the publication's folder.
        session: the session's date.
        open: the session's open (in the exchange's zone when known).
        close: the session's close.
        built_at: when the snapshot was frozen.
        symbols: symbols held.
        bars: bars held over every interval.
        nbytes: bytes of the columns.
        tables: interval -> (file entry of the Arrow file, of the offsets file, bars).
        report: the report's counts file.
        report_intervals: the report's intervals.
        report_symbols: the report's symbols, or None: the snapshot's.
        summary: complete, ok, expected, found and failed_symbols of the report.
    """

    sequence: int
    name: str
    session: dt.date
    open: dt.datetime
    close: dt.datetime
    built_at: dt.datetime
    symbols: int
    bars: int
    nbytes: int
    tables: dict[str, tuple[FileEntry, FileEntry, int]]
    report: FileEntry
    report_intervals: tuple[str, ...]
    report_symbols: tuple[str, ...] | None
    summary: dict[str, Any]

    def files(self) -> list[FileEntry]:
        """Every file the publication consists of."""
        out = [entry for arrow, offsets, _ in self.tables.values() for entry in (arrow, offsets)]
        out.append(self.report)
        return out

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready values."""
        zone = _zone_name(self.open)
        return {
            "format": FORMAT,
            "version": VERSION,
            "sequence": self.sequence,
            "name": self.name,
            "session": self.session.isoformat(),
            "open": self.open.isoformat(),
            "close": self.close.isoformat(),
            "built_at": self.built_at.isoformat(),
            "timezone": zone,
            "symbols": self.symbols,
            "bars": self.bars,
            "bytes": self.nbytes,
            "tables": {
                interval: {"arrow": a.to_json(), "offsets": o.to_json(), "bars": n}
                for interval, (a, o, n) in self.tables.items()
            },
            "report": {
                **self.report.to_json(),
                "intervals": list(self.report_intervals),
                "symbols": None if self.report_symbols is None else list(self.report_symbols),
                "summary": self.summary,
            },
        }


def _zone_name(instant: dt.datetime) -> str | None:
    tz = instant.tzinfo
    name = getattr(tz, "key", None) or getattr(tz, "name", None)
    return name if isinstance(name, str) else None


def _instant(text: str, zone: str | None) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    if zone:
        try:
            return value.astimezone(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return value
    return value


def _entry(raw: Any) -> FileEntry:  # noqa: ANN401 - parsed JSON
    file, size, digest = raw["file"], raw["size"], raw["sha256"]
    if not isinstance(file, str) or Path(file).is_absolute() or ".." in Path(file).parts:
        raise ValueError(f"file {file!r} is not a path inside the directory")
    if not isinstance(size, int) or not isinstance(digest, str):
        raise TypeError(f"file {file!r}: size and sha256 must be a number and a string")
    return FileEntry(file, size, digest)


def _check_format(raw: Any) -> None:  # noqa: ANN401 - parsed JSON
    if raw.get("format") != FORMAT or raw.get("version") != VERSION:
        got = (raw.get("format"), raw.get("version"))
        raise ValueError(f"format {got} is not {FORMAT} version {VERSION}")


def read_manifest(path: Path) -> Manifest:
    """Read and check a manifest file.

    Raises:
        SnapshotFileError: the file is missing, not JSON, or not a manifest.
    """
    return parse_manifest(read_manifest_bytes(path), path)


def read_manifest_bytes(path: Path) -> bytes:
    """A manifest file's bytes, unparsed (a follower compares them with the staged ones).

    Raises:
        SnapshotFileError: the file is missing or cannot be read.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SnapshotFileError(str(path), "no such file: nothing is published there") from None
    except OSError as exc:
        raise SnapshotFileError(str(path), f"cannot be read: {exc.strerror or exc}") from None


def parse_manifest(data: bytes, path: Path) -> Manifest:
    """Check and parse a manifest's bytes, read from ``path`` (named in errors).

    Raises:
        SnapshotFileError: not JSON, or not a manifest.
    """
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise SnapshotFileError(str(path), f"is not JSON ({exc})") from None
    try:
        _check_format(raw)
        zone = raw.get("timezone")
        report = raw["report"]
        symbols = report.get("symbols")
        return Manifest(
            sequence=int(raw["sequence"]),
            name=str(raw["name"]),
            session=dt.date.fromisoformat(raw["session"]),
            open=_instant(raw["open"], zone),
            close=_instant(raw["close"], zone),
            built_at=_instant(raw["built_at"], None),
            symbols=int(raw["symbols"]),
            bars=int(raw["bars"]),
            nbytes=int(raw["bytes"]),
            tables={
                str(interval): (_entry(t["arrow"]), _entry(t["offsets"]), int(t["bars"]))
                for interval, t in raw["tables"].items()
            },
            report=_entry(report),
            report_intervals=tuple(report["intervals"]),
            report_symbols=None if symbols is None else tuple(symbols),
            summary=dict(report["summary"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotFileError(str(path), f"is not a preopen manifest ({exc!r})") from None


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks.

    Raises:
        SnapshotFileError: the file is missing or cannot be read.
    """
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except FileNotFoundError:
        raise SnapshotFileError(str(path), "is missing") from None
    except OSError as exc:
        raise SnapshotFileError(str(path), f"cannot be read: {exc.strerror or exc}") from None
