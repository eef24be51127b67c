"""`preopen show --attach DIR` prints what is published; bad input is exit 2, a broken file 1."""

import datetime as dt
import json
import os

import pytest

from preopen.calendar import get_calendar
from preopen.cli import main
from preopen.model import SessionSnapshot, attach, publish_snapshot, stage_snapshot
from preopen.store.synthetic import synthetic_bars

pytest.importorskip("pyarrow")
XNYS = get_calendar("XNYS")
DAY = dt.date(2024, 7, 10)


@pytest.fixture
def published(tmp_path):
    trailing = XNYS.trailing_sessions(DAY, 2)
    data = {(s, i): b for i in ("1m", "1d")
            for s, b in synthetic_bars(["AAA", "BBB", "CCC"], XNYS, trailing, i).items()}
    snap = SessionSnapshot.assemble(DAY, XNYS.open_at(DAY), XNYS.close_at(DAY), data, XNYS,
                                    trailing, ["1m", "1d"], dt.datetime(2024, 7, 10, tzinfo=dt.UTC))
    publish_snapshot(snap, tmp_path)
    return tmp_path


def test_show_prints_the_session_tables_and_summary(published, capsys):
    assert main(["show", "--attach", str(published), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "2024-07-10" in out
    assert "00000001-2024-07-10/1m.arrow" in out
    assert "2,340 bars of 3 symbols" in out  # 3 x 2 x 390
    assert "checksums" in out


def test_show_json(published, capsys):
    assert main(["show", "--attach", str(published), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["session"] == "2024-07-10"
    assert shown["symbols"] == 3
    assert shown["tables"]["1d"]["bars"] == 6
    assert shown["complete"] is True
    assert shown["failed_symbols"] == []
    assert shown["staged"] is None


def test_show_names_a_publication_staged_for_the_next_open(published, capsys):
    current = attach(published)
    nxt = XNYS.next_session(DAY)
    staged = SessionSnapshot(nxt, XNYS.open_at(nxt), XNYS.close_at(nxt), report=current.report,
                             built_at=current.built_at, tables=current.tables)
    stage_snapshot(staged, published)
    assert main(["show", "--attach", str(published), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["session"] == "2024-07-10"  # still the current one
    assert shown["staged"] == {"publication": "00000002-2024-07-11", "session": "2024-07-11"}
    assert main(["show", "--attach", str(published)]) == 0
    assert "00000002-2024-07-11 (2024-07-11): current at its open" in capsys.readouterr().out


def test_a_directory_without_a_publication_is_bad_input(tmp_path, capsys):
    assert main(["show", "--attach", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--attach=" in err[0]
    assert "manifest.json" in err[0]


def test_a_broken_file_is_a_failure_naming_it(published, capsys):
    manifest = json.loads((published / "manifest.json").read_text())
    path = published / manifest["tables"]["1m"]["arrow"]["file"]
    os.truncate(path, 100)
    assert main(["show", "--attach", str(published)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(path) in err[0]
    assert "Traceback" not in err[0]
