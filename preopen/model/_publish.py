"""publish_snapshot: write a frozen snapshot for other processes to memory-map.

One writer, many mapped readers. The files of a publication are written into
a staging folder, synced and renamed into place, and its manifest is written
as ``next.json`` (staged: :func:`stage_snapshot`). It is made current
(:func:`make_current`) by renaming ``next.json`` over ``manifest.json``: a
reader sees the old publication or the new one, never a half-written one, and
a reader that mapped the staged one ahead only compares the manifest's bytes
at the flip. The runtime stages at the freeze and flips at the open. Older publications
beyond ``keep`` are removed afterwards; a reader that still maps one keeps
valid pages (Linux keeps an unlinked file's pages for its mappings).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from preopen.errors import PublishError, SettingsError
from preopen.model._interop import optional, table_to_batch
from preopen.model._manifest import (
    MANIFEST,
    STAGED,
    FileEntry,
    Manifest,
    read_manifest,
    sha256_of,
)

if TYPE_CHECKING:
    import datetime as dt

    from preopen.model._snapshot import SessionSnapshot
    from preopen.model._table import BarTable

__all__ = ["Publication", "Staged", "make_current", "publish_snapshot", "stage_snapshot"]

_FOLDER: Final = re.compile(r"^(\d{8})-\d{4}-\d{2}-\d{2}$")
_STAGING: Final = ".staging-"
KEEP_LIMIT: Final = 100


@dataclass(frozen=True, slots=True)
class Publication:
    """What :func:`publish_snapshot` did.

    Attributes:
        directory: the publish directory.
        name: the new publication's folder.
        sequence: its number.
        nbytes: bytes written.
        seconds: how long writing, syncing and flipping took.
        removed: older publications removed (folder names).
        flipped_at_ns: ``time.monotonic_ns()`` right after the manifest was
            replaced (the system-wide monotonic clock: comparable with what
            readers on this machine measure).
    """

    directory: Path
    name: str
    sequence: int
    nbytes: int
    seconds: float
    removed: tuple[str, ...]
    flipped_at_ns: int


@dataclass(frozen=True, slots=True)
class Staged:
    """A publication written and staged, not yet current (see :func:`stage_snapshot`).

    Attributes:
        directory: the publish directory.
        name: the publication's folder.
        sequence: its number.
        session: the snapshot's session.
        nbytes: bytes written.
        seconds: how long writing and syncing took.
    """

    directory: Path
    name: str
    sequence: int
    session: dt.date
    nbytes: int
    seconds: float


def publish_snapshot(
    snapshot: SessionSnapshot, directory: str | os.PathLike[str], keep: int = 2
) -> Publication:
    """Write ``snapshot`` under ``directory`` and make it the current publication.

    :func:`stage_snapshot` then :func:`make_current`, at once.

    Args:
        snapshot: the frozen snapshot.
        directory: the publish directory (created if missing), e.g. on a
            tmpfs such as ``/dev/shm/preopen``.
        keep: publications to keep, the new one included (1..100).

    Returns:
        What was published and removed.

    Raises:
        SettingsError: ``keep`` out of range.
        MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        PublishError: a file could not be written (names it); what was
            published before stays current.
    """
    _check_keep(keep)
    return make_current(stage_snapshot(snapshot, directory), keep)


def stage_snapshot(snapshot: SessionSnapshot, directory: str | os.PathLike[str]) -> Staged:
    """Write ``snapshot`` under ``directory`` as the next publication, not yet current.

    The files are written, synced and renamed into place and ``next.json``
    names them; ``manifest.json`` is untouched, so readers keep the current
    publication (a :class:`~preopen.model.SnapshotFollower` maps the staged
    one ahead). A publication staged earlier and not made current is
    superseded and removed. One writer per directory.

    Raises:
        MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        PublishError: a file could not be written (names it); the current
            publication and any earlier staged one stay as they were.
    """
    pa = optional("pyarrow", "publishing a snapshot")
    started = time.perf_counter()
    root = Path(directory)
    _guard(root, lambda: root.mkdir(parents=True, exist_ok=True))
    for leftover in root.glob(f"{_STAGING}*"):
        shutil.rmtree(leftover, ignore_errors=True)  # a publisher that died mid-way
    superseded = _staged_name(root)
    sequence = _last_sequence(root) + 1
    name = f"{sequence:08d}-{snapshot.session.isoformat()}"
    staging = root / f"{_STAGING}{name}"
    final = root / name
    try:
        _guard(staging, staging.mkdir)
        tables: dict[str, tuple[FileEntry, FileEntry, int]] = {}
        for interval, table in snapshot.tables.items():
            arrow = _write(staging, name, f"{interval}.arrow", lambda p, t=table: _ipc(pa, p, t))
            offsets = _write(
                staging, name, f"{interval}.offsets.npy",
                lambda p, t=table: np.save(p, np.asarray(t.offsets)),
            )
            tables[interval] = (arrow, offsets, table.nbars)
        report = snapshot.report
        report_file = _write(
            staging, name, "report.npy", lambda p: np.save(p, np.asarray(report.counts))
        )
        _guard(final, lambda: staging.rename(final))
        _sync_dir(root)
        manifest = Manifest(
            sequence=sequence,
            name=name,
            session=snapshot.session,
            open=snapshot.open,
            close=snapshot.close,
            built_at=snapshot.built_at,
            symbols=len(snapshot.symbols),
            bars=snapshot.nbars,
            nbytes=snapshot.nbytes,
            tables=tables,
            report=report_file,
            report_intervals=report.intervals,
            report_symbols=None if report.symbols == snapshot.symbols else report.symbols,
            summary={
                "complete": report.complete,
                "ok": report.ok,
                "expected": report.expected,
                "found": report.found,
                "failed_symbols": list(report.failed_symbols),
            },
        )
        _write_aside(root, STAGED, json.dumps(manifest.to_json(), indent=1))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if final.exists() and _staged_name(root) != name:
            shutil.rmtree(final, ignore_errors=True)
        raise
    if superseded is not None and superseded != _current_name(root):
        shutil.rmtree(root / superseded, ignore_errors=True)
    written = sum(entry.size for entry in manifest.files())
    return Staged(root, name, sequence, snapshot.session, written, time.perf_counter() - started)


def make_current(staged: Staged, keep: int = 2) -> Publication:
    """Flip: the staged publication becomes current (one rename); older ones beyond ``keep`` go.

    Raises:
        SettingsError: ``keep`` out of range.
        PublishError: ``staged`` is no longer the staged publication (another
            was staged after it, or it was made current already), or the
            rename failed; the current publication stays.
    """
    _check_keep(keep)
    started = time.perf_counter()
    root = staged.directory
    if _staged_name(root) != staged.name:
        raise PublishError(str(root / STAGED), f"does not stage {staged.name} (superseded or "
                           "already current)")
    _guard(root / MANIFEST, lambda: (root / STAGED).replace(root / MANIFEST))
    flipped_at_ns = time.monotonic_ns()
    _sync_dir(root)
    removed = _prune(root, keep)
    seconds = staged.seconds + time.perf_counter() - started
    return Publication(root, staged.name, staged.sequence, staged.nbytes, seconds, removed,
                       flipped_at_ns)


def _check_keep(keep: int) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= KEEP_LIMIT:
        raise SettingsError("publish_keep", keep, f"a whole number from 1 to {KEEP_LIMIT}")


def _guard(path: Path, action: Any) -> Any:  # noqa: ANN401 - whatever the action returns
    """Run a file-system action; an OSError becomes a PublishError naming ``path``."""
    try:
        return action()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise PublishError(str(path), reason) from exc


def _write(staging: Path, name: str, file: str, writer: Any) -> FileEntry:  # noqa: ANN401
    """Write one file with ``writer(path)``, sync it, and return its manifest entry."""
    path = staging / file
    _guard(path, lambda: writer(str(path)))
    _guard(path, lambda: _sync(path))
    size = _guard(path, lambda: path.stat().st_size)
    digest = _guard(path, lambda: sha256_of(path))
    return FileEntry(f"{name}/{file}", size, digest)


def _ipc(pa: Any, path: str, table: BarTable) -> None:  # noqa: ANN401 - pyarrow
    """One uncompressed Arrow IPC file holding the table as one record batch."""
    batch = table_to_batch(table)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs directories
        _sync(path)


def _write_aside(root: Path, name: str, text: str) -> None:
    """Write ``root/name`` whole or not at all: a synced temporary file renamed over it."""
    temporary = root / f".{name}.{os.getpid()}.tmp"
    try:
        _guard(temporary, lambda: temporary.write_text(text))
        _guard(temporary, lambda: _sync(temporary))
        _guard(root / name, lambda: temporary.replace(root / name))
    finally:
        temporary.unlink(missing_ok=True)
    _sync_dir(root)


def _publications(root: Path) -> list[tuple[int, str]]:
    out = []
    for child in root.iterdir():
        match = _FOLDER.match(child.name)
        if match and child.is_dir():
            out.append((int(match.group(1)), child.name))
    return sorted(out)


def _current_name(root: Path) -> str | None:
    try:
        return read_manifest(root / MANIFEST).name
    except OSError:
        return None


def _staged_name(root: Path) -> str | None:
    try:
        return read_manifest(root / STAGED).name
    except OSError:
        return None


def _last_sequence(root: Path) -> int:
    found = [sequence for sequence, _ in _guard(root, lambda: _publications(root))]
    with contextlib.suppress(OSError):
        found.append(read_manifest(root / MANIFEST).sequence)
    return max(found, default=0)


def _prune(root: Path, keep: int) -> tuple[str, ...]:
    """Remove publications beyond the newest ``keep``; never the current one."""
    current = _current_name(root)
    try:
        older = [name for _, name in _publications(root)[:-keep]]
    except OSError:
        return ()
    removed = []
    for name in older:
        if name != current:
            shutil.rmtree(root / name, ignore_errors=True)
            removed.append(name)
    return tuple(removed)
