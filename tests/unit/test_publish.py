"""Published snapshots: written aside, flipped by one rename, mapped read-only by readers."""

import datetime as dt
import errno
import gc
import hashlib
import json
import os
import pathlib

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.errors import ChecksumMismatchError, PublishError, SettingsError, SnapshotFileError
from preopen.model import (
    SessionSnapshot,
    SnapshotFollower,
    attach,
    make_current,
    publish_snapshot,
    stage_snapshot,
    validate,
    verify_published,
)
from preopen.store.synthetic import Defect, plant, synthetic_bars

pytest.importorskip("pyarrow")

XNYS = get_calendar("XNYS")
BUILT = dt.datetime(2024, 7, 8, 12, tzinfo=dt.UTC)


def snapshot_for(day, n=20, intervals=("1m", "1d"), seed=0):
    trailing = XNYS.trailing_sessions(day, 2)
    data = {}
    for interval in intervals:
        bars = synthetic_bars([f"S{i:03d}" for i in range(n)], XNYS, trailing, interval, seed=seed)
        for symbol, one in bars.items():
            data[symbol, interval] = one
    data["S001", "1m"] = plant(data["S001", "1m"], Defect.DUPLICATE, 2)  # a repaired defect
    data["S002", "1m"] = plant(data["S002", "1m"], Defect.GAP, 3)  # an incomplete symbol
    return SessionSnapshot.assemble(day, XNYS.open_at(day), XNYS.close_at(day), data, XNYS,
                                    trailing, intervals, BUILT)


DAY1, DAY2, DAY3 = dt.date(2024, 7, 8), dt.date(2024, 7, 9), dt.date(2024, 7, 10)


def mapped_ranges(path):
    """(start, end) of every mapping of ``path`` in this process (/proc/self/maps)."""
    out = []
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5] == str(path):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            out.append((start, end))
    return out


def test_attach_returns_the_same_snapshot_backed_by_the_mapped_files(tmp_path):
    snap = snapshot_for(DAY1)
    publication = publish_snapshot(snap, tmp_path)
    attached = attach(tmp_path)
    assert attached == snap
    assert attached.report == snap.report
    assert attached.report.failed_symbols == ("S002",)
    assert attached.open == snap.open
    assert attached.open.utcoffset() == dt.timedelta(hours=-4)
    assert attached.built_at == BUILT
    assert attached.bars("S001", "1m").repairs.duplicates_dropped == 2
    assert attached.nbars == snap.nbars
    for interval in ("1m", "1d"):
        table = attached.table(interval)
        ranges = mapped_ranges(tmp_path / publication.name / f"{interval}.arrow")
        assert ranges, "the Arrow file is memory-mapped"
        for column in table.columns:
            assert not column.flags.writeable
            start = column.ctypes.data
            assert any(lo <= start and start + column.nbytes <= hi for lo, hi in ranges)
        bars = attached.bars("S005", interval)
        assert np.shares_memory(bars.close, table.close)
        assert bars.equals(snap.bars("S005", interval))


def test_the_manifest_says_what_is_published_with_checksums(tmp_path):
    snap = snapshot_for(DAY1)
    publication = publish_snapshot(snap, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["session"] == "2024-07-08"
    assert manifest["open"] == "2024-07-08T09:30:00-04:00"
    assert manifest["close"] == "2024-07-08T16:00:00-04:00"
    assert manifest["symbols"] == 20
    assert manifest["bars"] == 20 * (210 + 390 + 2) - 3  # July 3 closes at 13:00; a gap of 3
    assert manifest["report"]["summary"]["failed_symbols"] == ["S002"]
    assert manifest["report"]["summary"]["complete"] is False
    files = [manifest["tables"][i][k] for i in ("1m", "1d") for k in ("arrow", "offsets")]
    files.append(manifest["report"])
    for entry in files:
        data = (tmp_path / entry["file"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert publication.nbytes == sum(entry["size"] for entry in files)
    assert verify_published(tmp_path) == publication.nbytes


def test_a_follower_sees_each_new_publication_and_old_mappings_stay_valid(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path, keep=1)
    with SnapshotFollower(tmp_path) as follower:
        first = follower.snapshot()
        assert first.session == DAY1
        assert follower.snapshot() is first  # nothing changed: no re-read
        closes = first.table("1m").close.copy()
        publish_snapshot(snapshot_for(DAY2, seed=1), tmp_path, keep=1)
        assert follower.changed()
        second = follower.snapshot()
        assert second.session == DAY2
        assert follower.manifest.sequence == 2
        # keep=1 removed the first publication's files; its mapping still reads them
        assert not any(p.name.startswith("00000001") for p in tmp_path.iterdir())
        assert np.array_equal(first.table("1m").close, closes)


def test_publications_beyond_keep_are_removed(tmp_path):
    removed = [publish_snapshot(snapshot_for(day, n=3), tmp_path, keep=2).removed
               for day in (DAY1, DAY2, DAY3, DAY3)]
    assert removed == [(), (), ("00000001-2024-07-08",), ("00000002-2024-07-09",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000003-2024-07-10", "00000004-2024-07-10", "manifest.json"]
    with pytest.raises(SettingsError, match="publish_keep=0"):
        publish_snapshot(snapshot_for(DAY1, n=3), tmp_path, keep=0)


def test_a_report_over_other_symbols_travels_whole(tmp_path):
    snap = snapshot_for(DAY1, n=3)
    data = {key: snap.data[key] for key in snap.data}
    report = validate({k: v for k, v in data.items() if k[0] != "S000"}, XNYS,
                      XNYS.trailing_sessions(DAY1, 2), ["1m", "1d"])
    odd = SessionSnapshot(DAY1, snap.open, snap.close, data, report, BUILT)
    publish_snapshot(odd, tmp_path)
    assert attach(tmp_path).report == report


# --- faults ---------------------------------------------------------------------------


def arrow_file(tmp_path, interval="1m"):
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    return tmp_path / manifest["tables"][interval]["arrow"]["file"]


def test_a_checksum_mismatch_is_found_on_request_only(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    path = arrow_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the middle of the bars
    path.write_bytes(bytes(data))
    attach(tmp_path)  # the path to the first read never reads every byte
    with pytest.raises(ChecksumMismatchError, match=str(path)) as caught:
        verify_published(tmp_path)
    assert caught.value.path == str(path)
    with pytest.raises(ChecksumMismatchError):
        attach(tmp_path, verify=True)
    with SnapshotFollower(tmp_path) as follower:
        follower.snapshot()
        with pytest.raises(ChecksumMismatchError):
            follower.verify_in_background().result(timeout=30)


def test_a_truncated_file_is_refused_naming_it(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    path = arrow_file(tmp_path)
    size = path.stat().st_size
    os.truncate(path, size // 2)
    with pytest.raises(SnapshotFileError, match=rf"{path}: has {size // 2} bytes.*truncated"):
        attach(tmp_path)


def test_a_corrupt_file_of_the_right_size_is_refused_naming_it(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    path = arrow_file(tmp_path, "1d")
    data = bytearray(path.read_bytes())
    data[-64:] = b"\0" * 64  # the footer and its magic
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotFileError, match=rf"{path}: is not a readable Arrow IPC file"):
        attach(tmp_path)


def test_a_manifest_naming_a_missing_file_is_refused_naming_it(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    path = arrow_file(tmp_path, "1d")
    path.unlink()
    with pytest.raises(SnapshotFileError, match=rf"{path}: is missing"):
        attach(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(SnapshotFileError, match=r"manifest\.json: is not JSON"):
        attach(tmp_path)
    with pytest.raises(SnapshotFileError, match="nothing is published"):
        attach(tmp_path / "elsewhere")


def test_a_directory_that_cannot_be_written_fails_clearly_and_keeps_the_old(tmp_path, monkeypatch):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    real_mkdir = pathlib.Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.name.startswith(".staging-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)  # tests run as root: modes don't stop it
    with pytest.raises(PublishError, match=r"\.staging-00000002-2024-07-09: Permission denied"):
        publish_snapshot(snapshot_for(DAY2), tmp_path)
    monkeypatch.undo()
    assert attach(tmp_path).session == DAY1
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PublishError, match="a-file"):
        publish_snapshot(snapshot_for(DAY2), blocker / "publish")


def test_a_full_disk_mid_publication_leaves_the_old_one_current(tmp_path, monkeypatch):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    real_save = np.save

    def full(path, array, *args, **kwargs):
        if str(path).endswith("1m.offsets.npy"):  # after 1d's files and 1m's Arrow file
            with pathlib.Path(path).open("wb") as half:
                half.write(b"\x93NUMPY")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(PublishError, match=r"1m\.offsets\.npy: No space left on device"):
        publish_snapshot(snapshot_for(DAY2), tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000001-2024-07-08", "manifest.json"]
    assert attach(tmp_path).session == DAY1
    assert publish_snapshot(snapshot_for(DAY2), tmp_path).sequence == 2


def test_a_reader_never_sees_a_half_written_publication(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    # a publisher that died while writing: its staging folder is there, the manifest is not
    staging = tmp_path / ".staging-00000002-2024-07-09"
    staging.mkdir()
    (staging / "1m.arrow").write_bytes(b"ARROW1\0\0partial")
    with SnapshotFollower(tmp_path) as follower:
        assert follower.snapshot().session == DAY1
        publish_snapshot(snapshot_for(DAY2), tmp_path)  # cleans the leftover
        assert not staging.exists()
        assert follower.snapshot().session == DAY2


# --- staged publications: written before the open, flipped at the open ---------------------


def test_a_staged_publication_is_not_current_until_made_current(tmp_path):
    publish_snapshot(snapshot_for(DAY1), tmp_path)
    staged = stage_snapshot(snapshot_for(DAY2, seed=1), tmp_path)
    assert (staged.name, staged.session, staged.sequence) == ("00000002-2024-07-09", DAY2, 2)
    assert attach(tmp_path).session == DAY1  # readers still see the current one
    staged_bytes = (tmp_path / "next.json").read_bytes()
    assert json.loads(staged_bytes)["name"] == staged.name
    publication = make_current(staged, keep=1)
    assert (tmp_path / "manifest.json").read_bytes() == staged_bytes  # the flip is a rename
    assert not (tmp_path / "next.json").exists()
    assert publication.removed == ("00000001-2024-07-08",)
    assert attach(tmp_path).session == DAY2
    with pytest.raises(PublishError, match=r"next\.json: does not stage 00000002-2024-07-09"):
        make_current(staged)


def test_a_follower_maps_the_staged_publication_ahead_and_only_swaps_at_the_flip(
        tmp_path, monkeypatch):
    from preopen.model import _attach as attach_module  # noqa: PLC0415 - the attach to forbid

    publish_snapshot(snapshot_for(DAY1), tmp_path)
    with SnapshotFollower(tmp_path) as follower:
        first = follower.snapshot()
        assert follower.staged is None
        staged = stage_snapshot(snapshot_for(DAY2, seed=1), tmp_path)
        assert follower.snapshot() is first  # the current one still; the staged one mapped
        assert follower.staged.name == staged.name
        ranges = mapped_ranges(tmp_path / staged.name / "1m.arrow")
        assert ranges, "the staged Arrow file is mapped before the flip"

        def no_attach(*args, **kwargs):
            raise AssertionError("attached at the flip")

        monkeypatch.setattr(attach_module, "_attach", no_attach)
        make_current(staged, keep=2)
        assert follower.changed()
        second = follower.snapshot()
        monkeypatch.undo()
        assert second.session == DAY2
        assert follower.manifest.name == staged.name
        assert follower.staged is None
        assert second.bars("S003", "1m").equals(snapshot_for(DAY2, seed=1).bars("S003", "1m"))
        assert follower.snapshot() is second


def test_a_follower_releases_the_replaced_snapshot_at_the_next_call_not_at_the_flip(tmp_path):
    publish_snapshot(snapshot_for(DAY1, n=3), tmp_path)
    with SnapshotFollower(tmp_path) as follower:
        first_ranges = None
        follower.snapshot()
        first_ranges = mapped_ranges(tmp_path / "00000001-2024-07-08" / "1m.arrow")
        assert first_ranges
        publish_snapshot(snapshot_for(DAY2, n=3), tmp_path, keep=2)
        assert follower.snapshot().session == DAY2
        # the call that returned the new session did not unmap the old one
        assert mapped_ranges(tmp_path / "00000001-2024-07-08" / "1m.arrow") == first_ranges
        follower.snapshot()  # nothing changed: the replaced snapshot is released now
        gc.collect()
        assert mapped_ranges(tmp_path / "00000001-2024-07-08" / "1m.arrow") == []


def test_a_newer_staging_supersedes_an_older_one(tmp_path):
    publish_snapshot(snapshot_for(DAY1, n=3), tmp_path)
    with SnapshotFollower(tmp_path) as follower:
        follower.snapshot()
        older = stage_snapshot(snapshot_for(DAY2, n=3), tmp_path)
        assert follower.prepare()
        newer = stage_snapshot(snapshot_for(DAY2, n=4), tmp_path)  # a follow-up freeze
        assert not (tmp_path / older.name).exists()
        with pytest.raises(PublishError, match="superseded"):
            make_current(older)
        make_current(newer)
        # the follower had mapped the older one: the bytes differ, so it attaches the newer
        assert follower.snapshot().symbols == ("S000", "S001", "S002", "S003")
        assert follower.snapshot().symbols == ("S000", "S001", "S002", "S003")
        assert follower.staged is None  # nothing is staged any more: the older is forgotten
    assert attach(tmp_path).symbols == ("S000", "S001", "S002", "S003")


def test_a_direct_publish_supersedes_a_staged_publication(tmp_path):
    for day in (DAY1, DAY2):
        publish_snapshot(snapshot_for(day, n=3), tmp_path, keep=1)
    staged = stage_snapshot(snapshot_for(DAY3, n=3), tmp_path)
    assert publish_snapshot(snapshot_for(DAY3, n=4), tmp_path, keep=1).removed == (
        "00000002-2024-07-09",)
    assert not (tmp_path / staged.name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000004-2024-07-10", "manifest.json"]


def test_a_staging_that_fails_keeps_the_current_and_the_earlier_staged_one(tmp_path, monkeypatch):
    publish_snapshot(snapshot_for(DAY1, n=3), tmp_path)
    earlier = stage_snapshot(snapshot_for(DAY2, n=3), tmp_path)
    real_save = np.save

    def full(path, array, *args, **kwargs):
        if str(path).endswith("report.npy"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(PublishError, match=r"report\.npy: No space left on device"):
        stage_snapshot(snapshot_for(DAY2, n=4), tmp_path)
    monkeypatch.undo()
    assert attach(tmp_path).session == DAY1
    assert make_current(earlier).name == earlier.name
    assert attach(tmp_path).symbols == ("S000", "S001", "S002")
