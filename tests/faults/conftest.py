"""Fault-injection fixtures: a PostgreSQL cluster of the tests' own, and backends to kill.

The shared server (``pg_dsn``) is never stopped or restarted. Restart and
outage tests run against ``pg_cluster``: a throwaway PostgreSQL cluster made
with ``initdb`` in a temporary directory (trust authentication, its own port,
its own socket directory), started once for the session and removed at its
end. As root, the cluster's commands run as the ``postgres`` user (initdb
refuses root). Without the binaries those tests skip with the reason, unless
``PREOPEN_REQUIRE_POSTGRES=1``, which CI sets: then they fail.

Backends are only ever terminated by ``application_name``: every store a test
opens on the shared server carries a fresh ``preopen_fault_<uuid>`` name.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

BINDIR = Path(os.environ.get("PREOPEN_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
COMMAND_TIMEOUT = 60.0  # seconds for any pg_ctl or initdb call


def _require_postgres() -> bool:
    return os.environ.get("PREOPEN_REQUIRE_POSTGRES", "") == "1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Backends:
    """Name a store's connections, and find or terminate its backends by that name."""

    @staticmethod
    def name() -> str:
        """A fresh application_name for one store's connections."""
        return f"preopen_fault_{uuid.uuid4().hex[:12]}"

    @staticmethod
    def named(dsn: str, name: str) -> str:
        """``dsn`` with ``application_name=name`` added (URL form)."""
        sep = "&" if "?" in dsn else "?"
        return f"{dsn}{sep}application_name={name}"

    @staticmethod
    def terminate(dsn: str, name: str) -> int:
        """Terminate every backend with that application_name, waiting up to 5 s each."""
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "select count(*) filter (where pg_terminate_backend(pid, 5000)) "
                "from pg_stat_activity where application_name = %s and pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def pids(dsn: str, name: str) -> set[int]:
        """The pids of the backends with that application_name."""
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "select pid from pg_stat_activity where application_name = %s", (name,)
            ).fetchall()
        return {int(row[0]) for row in rows}


@pytest.fixture
def backends() -> Backends:
    """Helpers to name a store's connections and terminate its backends."""
    return Backends()


@dataclass
class Cluster:
    """A running throwaway PostgreSQL cluster."""

    datadir: Path
    port: int
    options: str
    runner: tuple[str, ...]
    # Sent in the DSN, ignored by trust auth: no message may ever show it.
    password: str = "s3cret-fault-pw"  # noqa: S105 - a test value, not a credential

    @property
    def dsn(self) -> str:
        """The URL of its ``postgres`` database, with a password in it."""
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl with ``args`` and wait for it (-w), failing loudly."""
        command = [*self.runner, str(BINDIR / "pg_ctl"), "-D", str(self.datadir), "-w", *args]
        subprocess.run(
            command, check=True, capture_output=True, timeout=COMMAND_TIMEOUT
        )

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.datadir.parent / "log"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        # -l always: a postmaster without a log file keeps pg_ctl's output
        # pipe open, and the wait for pg_ctl would never end.
        self.pg_ctl("-o", self.options, "-l", str(self.log), "start")

    def stop(self) -> None:
        """Stop the server (fast: sessions are terminated, like a restart does)."""
        self.pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """Restart the server (fast shutdown, then start) and wait until it is up."""
        self.pg_ctl("-m", "fast", "-o", self.options, "-l", str(self.log), "restart")

    def is_running(self) -> bool:
        """Whether the server answers."""
        try:
            with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                conn.execute("select 1")
        except psycopg.OperationalError:
            return False
        return True


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for restart and outage tests, or skip."""
    initdb = BINDIR / "initdb"
    if not initdb.exists():
        reason = f"no PostgreSQL binaries at {BINDIR} (set PREOPEN_PG_BINDIR) for restart tests"
        if _require_postgres():
            pytest.fail(f"PREOPEN_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    runner: tuple[str, ...] = ()
    root = Path(tempfile.mkdtemp(prefix="preopen-pgfault-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        runner = ("runuser", "-u", "postgres", "--")
    port = _free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c full_page_writes=off -c synchronous_commit=off -c max_connections=40"
    )
    cluster = Cluster(root / "data", port, options, runner)
    try:
        subprocess.run(
            [*runner, str(initdb), "-D", str(cluster.datadir), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=COMMAND_TIMEOUT,
        )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
