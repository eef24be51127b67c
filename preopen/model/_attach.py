"""attach: a published snapshot, memory-mapped read-only, with the SessionSnapshot API.

A reader maps each interval's Arrow IPC file (``pyarrow.memory_map``) and
wraps its buffers as numpy columns: the pages are the file's, shared with
every other reader, and nothing is copied. Attaching reads the manifest, the
files' footers, the symbol dictionaries and the small offset and report
files; it never reads the bars. Checksums are verified only on request
(``verify=True``, :func:`verify_published`, :meth:`SnapshotFollower.verify`),
never on the way from the manifest flip to the first read.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

import numpy as np

from preopen.errors import ChecksumMismatchError, SnapshotFileError
from preopen.model._bars import FIELDS
from preopen.model._interop import optional
from preopen.model._manifest import (
    MANIFEST,
    STAGED,
    FileEntry,
    Manifest,
    parse_manifest,
    read_manifest,
    read_manifest_bytes,
    sha256_of,
)
from preopen.model._report import COUNT_FIELDS, ValidationReport
from preopen.model._snapshot import SessionSnapshot
from preopen.model._table import BarTable

if TYPE_CHECKING:
    import os

    from numpy.typing import NDArray

    from preopen.model._bars import Columns

__all__ = ["SnapshotFollower", "attach", "verify_published"]

_TYPES: Final = ("timestamp[ns, tz=UTC]", "double", "double", "double", "double", "double")


def _manifest_path(path: str | os.PathLike[str]) -> Path:
    where = Path(path)
    return where / MANIFEST if where.is_dir() else where


def attach(path: str | os.PathLike[str], *, verify: bool = False) -> SessionSnapshot:
    """The snapshot published in ``path``, memory-mapped read-only.

    Args:
        path: the publish directory (or its ``manifest.json``).
        verify: check every file's SHA-256 first (reads every byte).

    Raises:
        MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        SnapshotFileError: the manifest or a file is missing, truncated or
            corrupt (names it); ChecksumMismatchError when verifying.
    """
    optional("pyarrow", "attaching a published snapshot")
    manifest_path = _manifest_path(path)
    manifest = read_manifest(manifest_path)
    return _attach(manifest_path.parent, manifest, verify=verify)[0]


def verify_published(path: str | os.PathLike[str]) -> int:
    """Check the SHA-256 of every file of the current publication in ``path``.

    Returns:
        The bytes verified.

    Raises:
        SnapshotFileError: a file is missing; ChecksumMismatchError: one differs.
    """
    manifest_path = _manifest_path(path)
    return _verify(manifest_path.parent, read_manifest(manifest_path))


def _verify(root: Path, manifest: Manifest) -> int:
    total = 0
    for entry in manifest.files():
        actual = sha256_of(root / entry.file)
        if actual != entry.sha256:
            raise ChecksumMismatchError(str(root / entry.file), entry.sha256, actual)
        total += entry.size
    return total


def _checked(root: Path, entry: FileEntry) -> Path:
    """The file's path, after checking that it is there with the manifest's size."""
    path = root / entry.file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SnapshotFileError(str(path), "is missing (named by the manifest)") from None
    except OSError as exc:
        raise SnapshotFileError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if size != entry.size:
        raise SnapshotFileError(
            str(path), f"has {size} bytes, the manifest says {entry.size} (truncated or replaced)"
        )
    return path


#: A symbol dictionary as read (a pyarrow array) and the tuple made of it.
Known = tuple[Any, tuple[str, ...]]
#: A file's inode, size and mtime: what tells that it was replaced.
Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _attach(
    root: Path, manifest: Manifest, *, verify: bool, known: Known | None = None
) -> tuple[SessionSnapshot, Known | None]:
    """Attach; ``known`` is a dictionary already turned into a tuple (a previous session's)."""
    pa = optional("pyarrow", "attaching a published snapshot")
    if verify:
        _verify(root, manifest)
    opened: dict[str, tuple[tuple[str, ...], NDArray[np.int64], Columns]] = {}
    for interval, (arrow, offsets_file, bars) in manifest.tables.items():
        symbols, offsets, columns, known = _open_table(pa, root, arrow, offsets_file, bars, known)
        opened[interval] = (symbols, offsets, columns)
    names = [symbols for symbols, _, _ in opened.values()]
    union = names[0] if names and all(n is names[0] for n in names) else tuple(
        sorted(set().union(*names))
    )
    report = _report(root, manifest, union)
    tables = {}
    for interval, (symbols, offsets, columns) in opened.items():
        duplicates, unsorted = _repairs(report, interval, symbols)
        try:
            tables[interval] = BarTable(
                interval, symbols, offsets, columns,
                duplicates=duplicates, unsorted=unsorted, check_order=False,
            )
        except ValueError as exc:
            path = root / manifest.tables[interval][1].file
            raise SnapshotFileError(str(path), str(exc)) from None
    snapshot = SessionSnapshot(
        manifest.session, manifest.open, manifest.close, report=report,
        built_at=manifest.built_at, tables=tables,
    )
    return snapshot, known


def _report(root: Path, manifest: Manifest, symbols: tuple[str, ...]) -> ValidationReport:
    path = _checked(root, manifest.report)
    try:
        # A plain ndarray over the mapping: np.memmap's subclass hooks cost on every operation.
        counts = np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)
    except (OSError, ValueError) as exc:
        raise SnapshotFileError(str(path), f"is not a report ({exc})") from None
    if manifest.report_symbols is not None:
        symbols = manifest.report_symbols
    intervals = manifest.report_intervals
    want = (len(intervals), len(symbols), len(COUNT_FIELDS))
    if counts.dtype != np.int64 or counts.shape != want:
        raise SnapshotFileError(
            str(path), f"has counts {counts.dtype} {counts.shape}, the manifest implies {want}"
        )
    # The symbols come from the files' dictionaries, sorted when published.
    return ValidationReport.from_counts(symbols, intervals, counts, trusted=True)


def _open_table(  # noqa: PLR0917 - one interval's files and what they are checked against
    pa: Any,  # noqa: ANN401 - pyarrow
    root: Path,
    arrow: FileEntry,
    offsets_entry: FileEntry,
    bars: int,
    known: Known | None,
) -> tuple[tuple[str, ...], NDArray[np.int64], Columns, Known]:
    path = _checked(root, arrow)
    offsets_path = _checked(root, offsets_entry)
    try:
        source = pa.memory_map(str(path), "r")
        reader = pa.ipc.open_file(source)
        batch = reader.get_batch(0) if reader.num_record_batches == 1 else None
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotFileError(str(path), f"is not a readable Arrow IPC file ({exc})") from None
    if batch is None or batch.num_rows != bars or batch.schema.names != ["symbol", *FIELDS]:
        columns = ", ".join(FIELDS)
        raise SnapshotFileError(str(path), f"does not hold {bars} bars of symbol, {columns}")
    types = tuple(str(column.type) for column in batch.columns[1:])
    if types != _TYPES:
        raise SnapshotFileError(str(path), f"has column types {types}, not {_TYPES}")
    try:
        offsets = np.load(offsets_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SnapshotFileError(str(offsets_path), f"is not an offsets file ({exc})") from None
    dictionary = batch.column(0).dictionary
    if known is not None and dictionary.equals(known[0]):
        symbols = known[1]  # one tuple for every interval, and session after session
    else:
        symbols = tuple(dictionary.to_pylist())
        known = (dictionary, symbols)
    ts = _numpy(batch.column(1), np.int64)
    o, h, lo, c, v = (_numpy(batch.column(i), np.float64) for i in range(2, 7))
    return symbols, offsets, (ts, o, h, lo, c, v), known


def _numpy(array: Any, dtype: type[np.generic]) -> NDArray[Any]:  # noqa: ANN401 - pyarrow
    """A read-only numpy view of an Arrow array's data buffer (the mapped pages)."""
    data = array.buffers()[1]
    itemsize = np.dtype(dtype).itemsize
    if data is None:
        return np.empty(0, dtype)
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * itemsize)


def _repairs(
    report: ValidationReport, interval: str, symbols: tuple[str, ...]
) -> tuple[NDArray[np.int64] | None, NDArray[np.bool_] | None]:
    """Per symbol, the repairs made on load, as the report recorded them."""
    if interval not in report.intervals or report.symbols != symbols:
        return None, None
    rows = report.counts[report.intervals.index(interval)]
    duplicates = np.ascontiguousarray(rows[:, COUNT_FIELDS.index("duplicates")])
    return duplicates, rows[:, COUNT_FIELDS.index("unsorted")] != 0


class SnapshotFollower:
    """Follows a publish directory: :meth:`snapshot` is always the newest publication.

    Each call compares the manifest's inode, size and mtime with the one it
    attached (one ``stat``). When the publisher has staged the next
    publication (``next.json``), the first call that sees it maps it ahead
    (one more ``stat`` a call, and an attach once, before the open): at the
    flip the call reads the new manifest, finds it byte for byte the staged
    one and only swaps. Otherwise it attaches the new manifest then. The
    snapshot replaced at a flip is released at the next call, not during the
    one that returns the new session. Use it from one thread (each thread
    may have its own follower).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Follow ``directory`` (nothing is read until :meth:`snapshot`).

        Raises:
            MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        """
        optional("pyarrow", "following a published snapshot")
        self.directory = Path(directory)
        self._manifest_path = self.directory / MANIFEST
        self._staged_path = self.directory / STAGED
        self._seen: Stamp | None = None
        self._current: SessionSnapshot | None = None
        self._manifest: Manifest | None = None
        self._manifest_bytes = b""
        # The staged publication mapped ahead: its stamp, bytes, manifest and snapshot.
        self._staged_seen: Stamp | None = None
        self._staged: tuple[bytes, Manifest, SessionSnapshot] | None = None
        # The snapshot the last flip replaced, released by the next call.
        self._previous: SessionSnapshot | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._known: Known | None = None

    @property
    def manifest(self) -> Manifest | None:
        """The manifest of the snapshot last returned."""
        return self._manifest

    @property
    def staged(self) -> Manifest | None:
        """The manifest of the staged publication mapped ahead, if any."""
        return None if self._staged is None else self._staged[1]

    def changed(self) -> bool:
        """True when the manifest differs from the one last attached (one stat)."""
        return _stamp(self._manifest_path) != self._seen

    def prepare(self) -> bool:
        """Map the staged publication ahead of its flip, once; whether one is mapped.

        :meth:`snapshot` calls it; call it yourself to choose when the attach
        (milliseconds at 10,000 symbols) happens. A staged publication that
        cannot be attached is left for the flip to report.
        """
        stamp = _stamp(self._staged_path)
        if stamp is None:  # nothing staged (made current, or never): forget a stale one
            self._staged_seen = self._staged = None
            return False
        if stamp == self._staged_seen:
            return self._staged is not None
        self._staged_seen, self._staged = stamp, None
        try:
            data = self._staged_path.read_bytes()
            manifest = parse_manifest(data, self._staged_path)
            snapshot, self._known = _attach(self.directory, manifest, verify=False,
                                            known=self._known)
        except (OSError, SnapshotFileError):
            return False  # made current, superseded or broken: the flip's read tells
        self._staged = (data, manifest, snapshot)
        return True

    def snapshot(self) -> SessionSnapshot:
        """The newest published snapshot (re-attached when the manifest changed).

        Raises:
            SnapshotFileError: nothing published, or the publication is broken.
        """
        stamp = _stamp(self._manifest_path)
        if stamp is not None and stamp == self._seen and self._current is not None:
            self._previous = None  # released off the flip's path
            self.prepare()
            return self._current
        for attempt in range(2):
            data = read_manifest_bytes(self._manifest_path)
            if data == self._manifest_bytes and self._current is not None:
                self._seen = stamp  # the same publication, replaced by a copy of itself
                return self._current
            staged = self._staged
            if staged is not None and staged[0] == data:
                manifest, snapshot = staged[1], staged[2]
                self._staged = None
            else:
                manifest = parse_manifest(data, self._manifest_path)
                try:
                    snapshot, self._known = _attach(self.directory, manifest, verify=False,
                                                    known=self._known)
                except SnapshotFileError:
                    # Superseded and pruned between reading the manifest and mapping it.
                    if attempt or _stamp(self._manifest_path) == stamp:
                        raise
                    stamp = _stamp(self._manifest_path)
                    continue
            self._previous = self._current
            self._seen, self._current, self._manifest = stamp, snapshot, manifest
            self._manifest_bytes = data
            return snapshot
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def verify(self) -> int:
        """Check the checksums of the snapshot last returned; the bytes verified.

        Raises:
            SnapshotFileError: nothing attached yet, or a file is missing;
                ChecksumMismatchError: a file differs from the manifest.
        """
        if self._manifest is None:
            raise SnapshotFileError(str(self._manifest_path), "nothing attached yet to verify")
        return _verify(self.directory, self._manifest)

    def verify_in_background(self) -> Future[int]:
        """Run :meth:`verify` on a background thread; the future holds its result or error."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="preopen-verify")
        manifest = self._manifest
        if manifest is None:
            raise SnapshotFileError(str(self._manifest_path), "nothing attached yet to verify")
        return self._executor.submit(_verify, self.directory, manifest)

    def close(self) -> None:
        """Stop the background verifier (waits for a verification in progress)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close."""
        self.close()
