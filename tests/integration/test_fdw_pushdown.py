"""preopen's load query on a bars table hash-partitioned by symbol across two servers.

Three throwaway PostgreSQL 15 clusters (initdb/pg_ctl as the ``postgres``
user on free ports, removed at the end whatever happens): two hold one hash
partition each, the third is the coordinator where ``bars`` is a table
partitioned by hash of symbol whose partitions are postgres_fdw foreign
tables. The test asserts from ``EXPLAIN VERBOSE`` that the symbol and the
time filters of preopen's own load query reach the remote side (they are in
the ``Remote SQL``), and that a PostgresStore on the coordinator loads the
same bars as the shards hold. The shared server is not used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

from preopen.store import open_store  # noqa: E402

pytestmark = pytest.mark.slow

BINDIR = Path(os.environ.get("PREOPEN_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
TIMEOUT = 60.0
SYMBOLS = [f"S{i:04d}" for i in range(40)]
DAYS = [dt.date(2024, 11, 25), dt.date(2024, 11, 26), dt.date(2024, 11, 27)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One throwaway cluster: initdb, start, stop, always removed."""

    def __init__(self, root: Path, runner: tuple[str, ...]) -> None:
        self.root = root
        self.runner = runner
        self.port = _free_port()
        self.datadir = root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run([*self.runner, str(BINDIR / "initdb"), "-D", str(self.datadir), "-A",
                        "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=TIMEOUT)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off -c max_connections=20")
        subprocess.run([*self.runner, str(BINDIR / "pg_ctl"), "-D", str(self.datadir), "-w",
                        "-o", options, "-l", str(self.root / "log"), "start"],
                       check=True, capture_output=True, timeout=TIMEOUT)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run([*self.runner, str(BINDIR / "pg_ctl"), "-D", str(self.datadir),
                            "-w", "-m", "immediate", "stop"],
                           check=False, capture_output=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def clusters():
    if not (BINDIR / "initdb").exists():
        reason = f"no PostgreSQL binaries at {BINDIR} (set PREOPEN_PG_BINDIR)"
        if os.environ.get("PREOPEN_REQUIRE_POSTGRES", "") == "1":
            pytest.fail(f"PREOPEN_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    runner: tuple[str, ...] = ()
    made: list[tuple[Path, Cluster]] = []
    try:
        for name in ("shard0", "shard1", "coordinator"):
            root = Path(tempfile.mkdtemp(prefix=f"preopen-fdw-{name}-"))
            if os.geteuid() == 0:
                owner = pwd.getpwnam("postgres")
                os.chown(root, owner.pw_uid, owner.pw_gid)
                runner = ("runuser", "-u", "postgres", "--")
            cluster = Cluster(root, runner)
            made.append((root, cluster))
            cluster.start()
        yield tuple(c for _, c in made)
    finally:
        for root, cluster in made:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)


COLUMNS = """symbol text not null, interval text not null, ts timestamptz not null,
    open double precision not null, high double precision not null,
    low double precision not null, close double precision not null,
    volume double precision not null"""


@pytest.fixture(scope="module")
def coordinator(clusters):
    shard0, shard1, coord = clusters
    for i, shard in enumerate((shard0, shard1)):
        with psycopg.connect(shard.dsn, autocommit=True) as conn:
            conn.execute(f"create table bars_p{i} ({COLUMNS}, primary key (symbol, interval, ts))")
    with psycopg.connect(coord.dsn, autocommit=True) as conn:
        conn.execute("create extension postgres_fdw")
        conn.execute(f"create table bars ({COLUMNS}) partition by hash (symbol)")
        for i, shard in enumerate((shard0, shard1)):
            conn.execute(sql.SQL(
                "create server {s} foreign data wrapper postgres_fdw options "
                "(host '127.0.0.1', port {p}, dbname 'postgres', batch_size '1000')").format(
                s=sql.Identifier(f"shard{i}"), p=sql.Literal(str(shard.port))))
            conn.execute(sql.SQL("create user mapping for current_user server {s} "
                                 "options (user 'postgres')").format(s=sql.Identifier(f"shard{i}")))
            conn.execute(sql.SQL(
                "create foreign table {t} partition of bars for values with "
                "(modulus 2, remainder {r}) server {s} options (table_name {n})").format(
                t=sql.Identifier(f"bars_p{i}"), r=sql.Literal(i),
                s=sql.Identifier(f"shard{i}"), n=sql.Literal(f"bars_p{i}")))
        # 390 one-minute bars a day, routed to the shards by the partitioning.
        for day in DAYS:
            conn.execute(
                "insert into bars select s, '1m', %(open)s + (k * interval '1 minute'), "
                "100 + k, 101 + k, 99 + k, 100.5 + k, 1000 "
                "from unnest(%(symbols)s::text[]) as s, generate_series(0, 389) as k",
                {"open": dt.datetime(day.year, day.month, day.day, 14, 30, tzinfo=dt.UTC),
                 "symbols": SYMBOLS})
        for i in range(2):
            conn.execute(f"analyze bars_p{i}")
    return coord, (shard0, shard1)


def explain(dsn: str, symbols: list[str]) -> str:
    """EXPLAIN VERBOSE of the select inside preopen's load COPY."""
    from preopen.store._pgsql import select_query  # noqa: PLC0415 - the very query text

    query = sql.SQL("explain (verbose, costs off) {}").format(
        select_query("arrays", sql.Identifier("bars")))
    params = {"symbols": symbols, "interval": "1m",
              "start": dt.datetime(2024, 11, 26, tzinfo=dt.UTC),
              "end": dt.datetime(2024, 11, 27, tzinfo=dt.UTC)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        return "\n".join(row[0] for row in conn.execute(query, params).fetchall())


def test_symbol_and_time_filters_are_pushed_to_the_shards(coordinator):
    coord, _ = coordinator
    plan = explain(coord.dsn, SYMBOLS[:5])
    remote = [line.strip() for line in plan.splitlines() if "Remote SQL:" in line]
    assert len(remote) == 2, plan  # one foreign scan per shard
    for line in remote:
        where = line.split(" WHERE ", 1)[1] if " WHERE " in line else ""
        assert "symbol = $" in where or "(symbol = $" in where, plan  # the lateral symbol
        assert "ts >= " in where, plan
        assert "ts < " in where, plan
        assert '"interval" = ' in where, plan
    assert "Foreign Scan" in plan


def test_the_store_loads_the_same_bars_through_the_coordinator(coordinator):
    coord, shards = coordinator
    start = dt.datetime(2024, 11, 26, tzinfo=dt.UTC)
    end = dt.datetime(2024, 11, 28, tzinfo=dt.UTC)
    store = open_store(coord.dsn, table="bars")
    try:
        started = time.perf_counter()
        got = store.load(SYMBOLS, "1m", start, end)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    held = {}
    for shard in shards:
        with psycopg.connect(shard.dsn) as conn:
            for table in ("bars_p0", "bars_p1"):
                exists = conn.execute("select to_regclass(%s)", (table,)).fetchone()[0]
                if exists:
                    rows = conn.execute(
                        sql.SQL("select symbol, count(*) from {} where ts >= %s and ts < %s "
                                "group by symbol").format(sql.Identifier(table)),
                        (start, end)).fetchall()
                    held.update(dict(rows))
    assert held == dict.fromkeys(SYMBOLS, 780)  # both shards hold some, together all
    assert {s: len(b) for s, b in got.items()} == held
    # Measured, not asserted: printed with -s, quoted in docs/scaling.md.
    print(f"fdw load: {len(SYMBOLS)} symbols x 780 bars through the coordinator in "  # noqa: T201
          f"{seconds:.3f} s")


def test_each_symbol_reaches_only_its_own_shard(coordinator):
    """Run-time partition pruning: per symbol, the other shard's scan is never executed."""
    coord, _ = coordinator
    from preopen.store._pgsql import select_query  # noqa: PLC0415

    query = sql.SQL("explain (analyze, verbose, costs off, timing off, summary off) {}").format(
        select_query("arrays", sql.Identifier("bars")))
    params = {"symbols": SYMBOLS[:6], "interval": "1m",
              "start": dt.datetime(2024, 11, 26, tzinfo=dt.UTC),
              "end": dt.datetime(2024, 11, 27, tzinfo=dt.UTC)}
    with psycopg.connect(coord.dsn, autocommit=True) as conn:
        plan = "\n".join(row[0] for row in conn.execute(query, params).fetchall())
    scans = [line for line in plan.splitlines() if "Foreign Scan on public.bars_p" in line]
    loops = sum(int(line.rsplit("loops=", 1)[1].rstrip(")")) for line in scans
                if "loops=" in line)
    assert loops == 6, plan  # one remote scan per symbol in all, not one per shard
