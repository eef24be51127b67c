"""The commands' success paths, and prefetch's failure exit, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest

from preopen.cli import EXIT_FAILURE, EXIT_OK, _demo, main
from preopen.errors import PreopenTimeoutError

ROOT = Path(__file__).parents[2]


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


# --- issue 11: the CLI's contract -----------------------------------------------------------

SECRET = "S3CRETpw"  # noqa: S105 - a password that must never be printed


def shows_secret(text: str) -> bool:
    """Whether ``text`` holds the password, even cut by rich's wrapping."""
    return SECRET in "".join(text.split())


def with_password(dsn: str) -> str:
    """``dsn`` with a password for its user (the test server trusts, so it is never asked)."""
    parts = urlsplit(dsn)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'root'}:{SECRET}@{host}"))


def with_table(dsn: str, table: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}table={table}"


@pytest.fixture
def seeded(tmp_path: Path, capsys) -> str:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    seed(store)
    capsys.readouterr()
    return store


@pytest.mark.parametrize("flags", ["enabled = false\n", "auto_activate = false\n",
                                   "enabled = false\nauto_activate = false\n"])
def test_prefetch_loads_whatever_enabled_and_auto_activate_say(tmp_path, seeded, capsys, flags):
    config = tmp_path / "host.toml"
    config.write_text(flags)
    # Before: a wait of 600 s for a prefetch or an activation that never came.
    assert main(["prefetch", "--config", str(config), "--store", seeded,
                 "--session", "2024-12-02", "--symbols", "S0000,S0001"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "validation: 0 finding(s)" in out


def test_demo_runs_with_enabled_and_auto_activate_off(tmp_path, capsys):
    config = tmp_path / "host.toml"
    config.write_text("enabled = false\nauto_activate = false\n")
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    assert main(["demo", "--config", str(config), "--store", store, "--symbols", "3"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "enabled=false and auto_activate=false ignored" in out
    assert "activated 2024-12-02" in out


def test_demo_from_inside_a_prefetch_window(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    assert main(["demo", "--store", store, "--symbols", "3",
                 "--from", "2024-11-29T09:00"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Fri 2024-11-29 09:00  prefetch-started" in out
    assert "activated 2024-11-29" in out
    assert "activated 2024-12-02" in out


def test_demo_uses_the_store_the_config_file_names(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'named.db'}"
    config = tmp_path / "host.toml"
    config.write_text(f'store = "{store}"\n')
    assert main(["demo", "--config", str(config), "--symbols", "2", "--sessions", "1"]) == EXIT_OK
    assert (tmp_path / "named.db").exists()


def test_prefetch_with_failed_symbols_says_how_many_on_stderr(seeded, capsys):
    assert main(["prefetch", "--store", seeded, "--session", "2024-12-02",
                 "--symbols", "S0000,NOPE,NADA"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "preopen: error: prefetch of 2024-12-02: 2 of 3 symbol(s) failed: NADA, NOPE"
    ]


def test_prefetch_of_nothing_is_one_line_on_stderr(seeded, capsys):
    assert main(["prefetch", "--store", seeded, "--session", "2024-12-02",
                 "--symbols", "NOPE"]) == EXIT_FAILURE
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert "prefetch of 2024-12-02" in err
    assert "None" not in out + err


def test_a_demo_timeout_names_the_seconds_it_waited(monkeypatch):
    class Stuck:
        """A runtime whose prefetch never ends (the progress never moves)."""

        def status(self):
            progress = SimpleNamespace(done=0, total=10, failed=0)
            return SimpleNamespace(session=None, prefetch_seconds=None, progress=progress)

        def wait_for(self, _predicate, *, timeout):
            raise TimeoutError(timeout)

    monkeypatch.setattr(_demo, "_WAIT_S", 0.25)
    with pytest.raises(PreopenTimeoutError) as info:
        _demo._wait_prefetch(Stuck(), dt.date(2024, 12, 2))
    assert info.value.seconds == 0.25
    assert "prefetch of 2024-12-02" in str(info.value)
    assert "after 0.25 sec" in str(info.value)


def test_no_password_in_prefetch_or_demo_on_postgres(pg_dsn, pg_table, capsys):
    store = with_table(with_password(pg_dsn), pg_table)
    assert main(["demo", "--store", store, "--symbols", "3", "--sessions", "1"]) == EXIT_OK
    assert main(["prefetch", "--store", store, "--session", "2024-11-29"]) == EXIT_OK
    assert main(["prefetch", "--store", with_table(with_password(pg_dsn), pg_table + "_none"),
                 "--session", "2024-11-29"]) == EXIT_FAILURE
    out, err = capsys.readouterr()
    assert "prefetch2024-11-29:postgresql://root:***@" in "".join(out.split())  # the title
    assert not shows_secret(out + err)
    assert len(err.strip().splitlines()) == 1, err


def test_no_password_in_the_log_of_serve(pg_dsn, pg_table, capsys, tmp_path):
    store = with_table(with_password(pg_dsn), pg_table)
    seed(store)
    capsys.readouterr()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "serve", "--store", store, "--log-level", "DEBUG"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the test timeout; serve logs at once
            seen.append(line)
            if "event=serving" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(seen)
        seen.append(proc.stdout.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    text = "".join(seen)
    assert "event=serving" in text
    assert "event=stopped" in text
    assert not shows_secret(text)


def test_a_host_that_configured_no_logging_sees_no_pool_warning():
    code = (
        "import logging\n"
        "import preopen.store\n"
        "logging.getLogger('psycopg.pool').warning('error connecting in pool-1')\n"
        "logging.getLogger('preopen.store').warning('a store warning')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=ROOT)
    assert proc.stderr == ""
    configured = code.replace("import logging\n", "import logging\nlogging.basicConfig()\n")
    proc = subprocess.run([sys.executable, "-c", configured], capture_output=True, text=True,
                          timeout=60, check=True, cwd=ROOT)
    assert "error connecting in pool-1" in proc.stderr  # a host that configured logging sees it


def test_the_readme_postgresql_demo_creates_its_schema(pg_dsn):
    # The README's `demo --store '...?table=myschema.bars'`, on a schema that
    # does not exist yet: demo creates the schema and the table.
    import uuid  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    schema = f"preopen_readme_{uuid.uuid4().hex[:8]}"
    try:
        assert main(["demo", "--store", f"{pg_dsn}?table={schema}.bars",
                     "--symbols", "3", "--sessions", "1"]) == EXIT_OK
        with psycopg.connect(pg_dsn) as conn:
            found = conn.execute("select to_regclass(%s)", (f"{schema}.bars",)).fetchone()
        assert found is not None
        assert found[0] is not None
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')  # only the one made here
