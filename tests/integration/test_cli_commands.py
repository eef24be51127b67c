"""The commands' success paths, and prefetch's failure exit, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from preopen.cli import EXIT_FAILURE, EXIT_OK, main


def seed(store: str, symbols: int = 4) -> None:
    # The 6 sessions before 2024-12-03: 11-22, 11-25, 11-26, 11-27, 11-29, 12-02.
    assert main(["seed", "--store", store, "--symbols", str(symbols), "--sessions", "6",
                 "--intervals", "1m,1d", "--before", "2024-12-03"]) == EXIT_OK


def test_seed_then_prefetch_a_session(tmp_path: Path, capsys):
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    seed(store)
    out = capsys.readouterr().out
    # 4 symbols x (5 x 390 + 210 one-minute bars + 6 daily bars)
    assert "wrote 8,664 rows" in out
    assert main(["prefetch", "--store", store, "--session", "2024-12-02",
                 "--symbols", "S0000,S0001"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "validation: 0 finding(s)" in out


def test_prefetch_exits_1_when_a_symbol_fails(tmp_path: Path, capsys):
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    seed(store)
    capsys.readouterr()
    assert main(["prefetch", "--store", store, "--session", "2024-12-02",
                 "--symbols", "S0000,NOPE"]) == EXIT_FAILURE
    out = capsys.readouterr().out
    assert "1 failed symbol(s)" in out
    assert "NOPE" in out


def test_demo_on_postgres(pg_dsn: str, pg_table: str, capsys):
    store = f"{pg_dsn}{'&' if '?' in pg_dsn else '?'}table={pg_table}"
    assert main(["demo", "--store", store, "--symbols", "10"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "activated 2024-11-29" in out
    assert "activated 2024-12-02" in out
    assert "prefetch-started" in out
