"""Fixtures shared by every test directory.

PostgreSQL: tests that need a server take the ``pg_dsn`` or ``pg_table``
fixture. The server is the one named by ``PREOPEN_TEST_DSN`` (default: the
local server, database ``test``). When none answers they skip with the
reason, unless ``PREOPEN_REQUIRE_POSTGRES=1``, which CI sets: then they fail.
Each test run works in a schema of its own and drops only that schema.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_DSN = "postgresql://root@127.0.0.1:5432/test"


def _require_postgres() -> bool:
    return os.environ.get("PREOPEN_REQUIRE_POSTGRES", "") == "1"


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The DSN of a PostgreSQL server that answers, or skip (fail under CI)."""
    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("PREOPEN_TEST_DSN", DEFAULT_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL server answers at PREOPEN_TEST_DSN={dsn!r}: {exc}".strip()
        if _require_postgres():
            pytest.fail(f"PREOPEN_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return dsn


@pytest.fixture(scope="session")
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A schema created for this test run, dropped at its end (only it)."""
    import psycopg  # noqa: PLC0415 - only where a server is wanted

    name = f"preopen_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'create schema "{name}"')
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{name}" cascade')


@pytest.fixture
def pg_table(pg_schema: str) -> str:
    """A fresh, not yet created, qualified bars table name for one test."""
    return f"{pg_schema}.bars_{uuid.uuid4().hex[:8]}"
