"""The errors of bars and snapshots: arrays refused, live bars off the history, publications."""

from __future__ import annotations

from typing import Any

from preopen.errors._base import PreopenError

__all__ = [
    "BarsError",
    "ChecksumMismatchError",
    "LiveGapError",
    "LiveJoinError",
    "LiveOverlapError",
    "PublishError",
    "SnapshotFileError",
]


class BarsError(PreopenError, ValueError):
    """Arrays that cannot make a Bars value (lengths, dtypes, interval)."""


class LiveJoinError(PreopenError, ValueError):
    """Live bars do not continue the history on the calendar's grid.

    Raised as is when live bars are off the grid (outside a session, inside a
    break, misaligned); its subclasses name a gap or an overlap.

    Attributes:
        where: the symbol and interval.
        check: the :class:`~preopen.model.JoinCheck` with every finding.
    """

    # ``check`` is a preopen.model.JoinCheck; typed Any because errors sits below model.
    def __init__(self, where: str, check: Any) -> None:  # noqa: ANN401 - see above
        self.where = where
        self.check: Any = check
        super().__init__(f"live bars of {where} do not join the history: {check}")


class LiveGapError(LiveJoinError):
    """Stamps are missing between the history and the live bars, or between live bars."""


class LiveOverlapError(LiveJoinError):
    """A live bar repeats a bar the history (or an earlier live bar) already holds."""


class PublishError(PreopenError, OSError):
    """A snapshot could not be published; what was published before is untouched.

    Attributes:
        path: the file or directory that failed.
        reason: what went wrong.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"couldn't publish the snapshot to {path}: {reason}")


class SnapshotFileError(PreopenError, OSError):
    """A published snapshot cannot be attached: a file missing, truncated or corrupt.

    Attributes:
        path: the file at fault.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"published snapshot file {path}: {reason}")


class ChecksumMismatchError(SnapshotFileError):
    """A published file's SHA-256 differs from the one its manifest records.

    Attributes:
        path: the file at fault.
        expected: the manifest's digest.
        actual: the file's digest.
    """

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(path, f"sha256 {actual} does not match the manifest's {expected}")
