"""A SQLite store opened for loading never changes the file; failures are classified.

Read-only, full-disk and locked errors are injected (tests run as root, who
writes through file modes): a connection class whose ``execute`` raises,
blocks or lets a writer in after a statement, passed to sqlite3.connect as
its factory.
"""

import datetime as dt
import functools
import hashlib
import queue
import sqlite3
import threading

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.errors import (
    StoreDataError,
    StoreError,
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreWideError,
    is_store_wide,
    is_transient,
)
from preopen.model import Bars
from preopen.store import EMPTY, fingerprints_of, open_store
from preopen.store._sqlturn import ReadTurn
from preopen.store.synthetic import synthetic_bars

XNYS = get_calendar("XNYS")
DAYS = (dt.date(2024, 7, 1), dt.date(2024, 7, 2))
START = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 7, 3, tzinfo=dt.UTC)
RANGES = [(XNYS.open_at(day), XNYS.close_at(day)) for day in DAYS]
WAIT = 10.0  # every wait in these tests is bounded
FOREVER = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"


@pytest.fixture
def seeded(tmp_path):
    url = f"sqlite:///{tmp_path}/bars.db"
    store = open_store(url, create=True)
    store.write("1m", synthetic_bars(["A", "B"], XNYS, DAYS, "1m"))
    store.close()
    return url


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_opened_for_loading_a_foreign_file_is_left_as_it_was(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("create table quotes (symbol text, price real)")
    conn.execute("insert into quotes values ('A', 1.0)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(StoreSchemaError, match="table 'bars' does not exist"):
        open_store(f"sqlite:///{path}")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no -wal, no -shm
    conn = sqlite3.connect(path)
    assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
    assert conn.execute("select name from sqlite_master").fetchall() == [("quotes",)]


def test_opened_for_loading_the_file_is_read_only_and_loads(seeded):
    store = open_store(seeded)
    try:
        assert store.read_only
        assert len(store.load(["A"], "1m", START, END)["A"]) == 780
        with pytest.raises(StoreWideError, match="opened for loading") as caught:
            store.write("1m", synthetic_bars(["C"], XNYS, DAYS, "1m"))
        assert is_store_wide(caught.value)
        # The connection itself is read-only (URI mode=ro), not just the method.
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._connection().execute("delete from bars")
    finally:
        store.close()


class _Faulty(sqlite3.Connection):
    """Raises ``error`` (or runs FOREVER after setting ``started``) for statements with ``on``."""

    on = ""
    error: Exception | None = None
    started: threading.Event | None = None
    after = None  # called once the statement ran

    def execute(self, sql, *args):
        if self.on and self.on in sql and self.after is not None:
            cursor = super().execute(sql, *args)
            self.after()
            return cursor
        if self.on and self.on in sql:
            if self.error is not None:
                raise self.error
            if self.started is not None:
                self.started.set()
                return super().execute(FOREVER)
        return super().execute(sql, *args)

    def executemany(self, sql, rows):
        if self.on and self.on in sql and self.error is not None:
            raise self.error
        return super().executemany(sql, rows)


@pytest.fixture
def faulty(monkeypatch):
    class Faulty(_Faulty):
        pass

    monkeypatch.setattr(sqlite3, "connect", functools.partial(sqlite3.connect, factory=Faulty))
    return Faulty


@pytest.mark.parametrize(
    ("on", "error", "kind", "wide", "transient"),
    [
        ("insert", sqlite3.OperationalError("attempt to write a readonly database"),
         StoreWideError, True, False),
        ("insert", sqlite3.OperationalError("database or disk is full"),
         StoreWideError, True, False),
        ("insert", sqlite3.OperationalError("disk I/O error"), StoreWideError, True, False),
        ("insert", sqlite3.OperationalError("database is locked"),
         StoreTimeoutError, True, True),
        ("insert", sqlite3.OperationalError("no such table: bars"),
         StoreSchemaError, True, False),
        ("insert", sqlite3.IntegrityError("CHECK constraint failed: length(bar) = 48"),
         StoreError, False, False),
    ],
)
def test_write_errors_are_classified(tmp_path, faulty, on, error, kind, wide, transient):  # noqa: PLR0917
    store = open_store(f"sqlite:///{tmp_path}/w.db", create=True)
    faulty.on, faulty.error = on, error
    try:
        with pytest.raises(kind) as caught:
            store.write("1m", synthetic_bars(["A"], XNYS, DAYS, "1m"))
        assert type(caught.value) is kind
        assert is_store_wide(caught.value) is wide
        assert is_transient(caught.value) is transient
    finally:
        store.close()


def test_a_locked_database_on_load_is_a_transient_timeout(seeded, faulty):
    store = open_store(seeded, load_timeout=7.5)
    faulty.on, faulty.error = "json_each", sqlite3.OperationalError("database is locked")
    try:
        with pytest.raises(StoreTimeoutError, match=r"7\.50 sec") as caught:
            store.load(["A"], "1m", START, END)
        assert caught.value.seconds == 7.5
        assert is_store_wide(caught.value)
        assert is_transient(caught.value)
    finally:
        store.close()


def plant_short_bars(seeded, sizes):
    """Give each symbol's first bar a blob of ``sizes[symbol]`` bytes (past the CHECK)."""
    conn = sqlite3.connect(seeded.removeprefix("sqlite:///"))
    conn.execute("pragma ignore_check_constraints = on")
    for symbol, size in sizes.items():
        conn.execute("update bars set bar = zeroblob(?) where symbol = ? and ts = "
                     "(select min(ts) from bars where symbol = ?)", (size, symbol, symbol))
    conn.commit()
    conn.close()


def test_malformed_bars_of_one_symbol_are_not_store_wide(seeded):
    plant_short_bars(seeded, {"B": 40})
    store = open_store(seeded)
    try:
        with pytest.raises(StoreDataError, match="'B'") as caught:
            store.load(["A", "B"], "1m", START, END)
        assert caught.value.symbol == "B"
        assert not is_store_wide(caught.value)
        assert len(store.load(["A"], "1m", START, END)["A"]) == 780
    finally:
        store.close()


def test_a_load_past_its_deadline_is_a_timeout(seeded, faulty):
    store = open_store(seeded, load_timeout=0.2)
    faulty.on, faulty.started = "json_each", threading.Event()
    try:
        with pytest.raises(StoreTimeoutError) as caught:
            store.load(["A"], "1m", START, END)
        assert caught.value.seconds == pytest.approx(0.2)
        assert is_transient(caught.value)
    finally:
        store.close()


def test_interrupt_from_another_thread_cancels_a_load(seeded, faulty):
    store = open_store(seeded, load_timeout=3600)
    faulty.on, faulty.started = "json_each", threading.Event()
    done = threading.Event()
    outcome: list[BaseException] = []

    def load():
        try:
            store.load(["A"], "1m", START, END)
        except BaseException as exc:  # noqa: BLE001 - the outcome is checked below
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        assert faulty.started.wait(WAIT)
        store.interrupt()
        assert done.wait(WAIT), "interrupt() did not stop the load"
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreInterruptedError)
        assert is_store_wide(outcome[0])
        faulty.on = ""
        assert len(store.load(["A"], "1m", START, END)["A"]) == 780  # usable afterwards
    finally:
        store.interrupt()
        thread.join(WAIT)
        store.close()


class _Watched(queue.Queue):
    """The store's read slot, telling when a caller starts waiting for the turn."""

    def __init__(self):
        super().__init__(maxsize=1)
        self.waiting = threading.Event()

    def get(self, block=True, timeout=None):
        if self.empty():
            self.waiting.set()
        return super().get(block, timeout)


def _load_in_thread(store, outcome, done):
    def load():
        try:
            outcome.append(store.load(["A"], "1m", START, END))
        except BaseException as exc:  # noqa: BLE001 - the outcome is checked by the caller
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread


def test_a_load_waits_for_the_read_turn_and_is_cancelled_there_by_interrupt(seeded, faulty):
    store = open_store(seeded, load_timeout=3600)
    turn = _Watched()
    store._turn = ReadTurn(turn)  # to see the second load wait for its turn
    faulty.on, faulty.started = "json_each", threading.Event()
    first, second = threading.Event(), threading.Event()
    outcomes: tuple[list, list] = ([], [])
    threads = [_load_in_thread(store, outcomes[0], first)]
    try:
        assert faulty.started.wait(WAIT)  # the first load holds the turn, its query running
        threads.append(_load_in_thread(store, outcomes[1], second))
        assert turn.waiting.wait(WAIT)
        assert not second.is_set()
        store.interrupt()
        assert first.wait(WAIT)
        assert second.wait(WAIT), "the wait for the read turn did not end at interrupt()"
        assert all(isinstance(o[0], StoreInterruptedError) for o in outcomes)
        faulty.on = ""
        assert len(store.load(["A"], "1m", START, END)["A"]) == 780  # the turn was given back
    finally:
        store.interrupt()
        for thread in threads:
            thread.join(WAIT)
        store.close()


def test_a_load_that_cannot_get_the_read_turn_before_its_deadline_times_out(seeded, faulty):
    store = open_store(seeded, load_timeout=3600)
    faulty.on, faulty.started = "json_each", threading.Event()
    done = threading.Event()
    outcome: list = []
    thread = _load_in_thread(store, outcome, done)
    try:
        assert faulty.started.wait(WAIT)
        store.load_timeout = 0.2  # the next call's deadline; the first keeps its hour
        with pytest.raises(StoreTimeoutError, match="waiting for another query") as caught:
            store.load(["B"], "1m", START, END)
        assert caught.value.seconds == pytest.approx(0.2)
        assert not done.is_set()  # the first load still holds the turn
    finally:
        store.interrupt()
        thread.join(WAIT)
        store.close()
    assert isinstance(outcome[0], StoreInterruptedError)


def test_fingerprints_match_the_bars_and_see_a_one_ulp_correction(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/f.db", create=True)
    try:
        bars = synthetic_bars(["A", "B"], XNYS, DAYS, "1m")
        store.write("1m", bars)
        stored = store.fingerprints(["A", "B", "NONE"], "1m", RANGES)
        assert stored["A"] == fingerprints_of(bars["A"], RANGES)
        assert stored["B"] == fingerprints_of(bars["B"], RANGES)
        assert stored["NONE"] == (EMPTY, EMPTY)
        assert [fp.rows for fp in stored["A"]] == [390, 390]
        a = bars["A"]
        close = a.close.copy()
        close[-1] = np.nextafter(close[-1], np.inf)  # one ulp, in the second session
        store.write("1m", {"A": Bars.from_arrays("A", "1m", a.ts, a.open, a.high, a.low,
                                                 close, a.volume)})
        after = store.fingerprints(["A"], "1m", RANGES)["A"]
        assert after[0] == stored["A"][0]
        assert after[1] != stored["A"][1]
        assert after[1].rows == 390
    finally:
        store.close()


def test_a_wal_file_in_a_read_only_directory_is_opened_immutable(seeded, monkeypatch):
    # SQLite cannot create the -shm of a WAL file there: the first read fails
    # with "unable to open database file" unless the file is opened immutable.
    real_connect = sqlite3.connect

    class CannotOpen(sqlite3.Connection):
        def execute(self, sql, *args):
            raise sqlite3.OperationalError("unable to open database file")

    def connect(database, *args, **kwargs):
        if kwargs.get("uri") and "immutable=1" not in str(database):
            return real_connect(database, *args, factory=CannotOpen, **kwargs)
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    store = open_store(seeded)
    try:
        assert store.immutable
        assert len(store.load(["B"], "1m", START, END)["B"]) == 780
    finally:
        store.close()


def test_a_file_that_cannot_be_opened_at_all_is_store_wide(seeded, monkeypatch):
    class CannotOpen(sqlite3.Connection):
        def execute(self, sql, *args):
            raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", functools.partial(sqlite3.connect, factory=CannotOpen))
    with pytest.raises(StoreWideError, match="cannot open") as caught:
        open_store(seeded)
    assert is_store_wide(caught.value)



def test_a_write_between_a_batch_s_two_queries_is_not_seen_by_either(seeded, faulty):
    # The counts and the concatenated bars are read in one transaction: a
    # writer adding a bar to A and removing one of B in between (the same
    # total) would otherwise shift a bar from one symbol to the other.
    path = seeded.removeprefix("sqlite:///")
    store = open_store(seeded)
    late = int(dt.datetime(2024, 7, 2, 23, 0, tzinfo=dt.UTC).timestamp()) * 10**9
    extra = Bars.from_arrays("A", "1m", [late], [1.0], [1.0], [1.0], [1.0], [1.0])

    def write():
        faulty.on = ""  # once
        writer = open_store(seeded, create=True)
        writer.write("1m", {"A": extra})
        writer.close()
        conn = sqlite3.connect(path)
        conn.execute("delete from bars where symbol = 'B' and ts = "
                     "(select min(ts) from bars where symbol = 'B')")
        conn.commit()
        conn.close()

    try:
        before = store.load(["A", "B"], "1m", START, END)
        faulty.on, faulty.after = "json_group_array", staticmethod(write)
        during = store.load(["A", "B"], "1m", START, END)
        assert faulty.on == "", "the write did not run between the two queries"
        for symbol in ("A", "B"):
            assert during[symbol].equals(before[symbol]), symbol
        after = store.load(["A", "B"], "1m", START, END)
        assert (len(after["A"]), len(after["B"])) == (781, 779)
        assert int(after["A"].ts[-1]) == late
    finally:
        store.close()


def test_two_malformed_bars_whose_bytes_add_up_are_still_found_and_named(seeded):
    # 40 bytes in A and 56 in B: the batch holds a whole number of bars, but
    # neither symbol does; the shifted bars' stamps give it away.
    plant_short_bars(seeded, {"A": 40, "B": 56})
    store = open_store(seeded)
    try:
        with pytest.raises(StoreDataError, match="'A'") as caught:
            store.load(["A", "B"], "1m", START, END)
        assert caught.value.symbol == "A"
    finally:
        store.close()
