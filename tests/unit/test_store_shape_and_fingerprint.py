"""The load shape chosen from a table's facts; the fingerprint of in-memory Bars."""

import hashlib
import struct

import numpy as np
import pytest

from preopen.model import Bars
from preopen.store import EMPTY, Fingerprint, fingerprint, fingerprints_of
from preopen.store._pgsql import TableFacts, choose_shape, load_settings

PG_EPOCH_US = 946_684_800_000_000


@pytest.mark.parametrize(
    ("facts", "shape"),
    [
        (TableFacts(None, symbol_index=True, covering=False, all_visible=0.0), "set"),
        (TableFacts(0.99, symbol_index=True, covering=False, all_visible=0.0), "arrays"),
        (TableFacts(-0.95, symbol_index=True, covering=False, all_visible=0.0), "arrays"),
        (TableFacts(0.01, symbol_index=True, covering=False, all_visible=1.0), "set"),
        (TableFacts(0.01, symbol_index=True, covering=True, all_visible=0.9), "arrays"),
        (TableFacts(0.01, symbol_index=True, covering=True, all_visible=0.1), "set"),
        (TableFacts(None, symbol_index=True, covering=True, all_visible=1.0), "arrays"),
        (TableFacts(1.0, symbol_index=False, covering=False, all_visible=1.0), "set"),
    ],
)
def test_the_shape_follows_the_facts(facts, shape):
    assert choose_shape(facts) == shape


def test_load_settings_turn_jit_off_and_bound_the_load():
    text = load_settings(statement_ms=1500, lock_ms=1350, symbols=10, bars_per_symbol=10)
    rendered = text.as_string(None)
    assert "set local jit = off" in rendered
    assert "set local statement_timeout = 1500" in rendered
    assert "set local lock_timeout = 1350" in rendered
    assert "set local synchronize_seqscans = off" in rendered
    assert "work_mem = '4096kB'" in rendered  # the floor
    huge = load_settings(statement_ms=1, lock_ms=1, symbols=10**6, bars_per_symbol=10**4)
    assert "work_mem = '262144kB'" in huge.as_string(None)  # the cap


def _bars():
    ts = [1_719_927_000_000_000_000 + k * 60_000_000_000 for k in range(4)]
    return Bars.from_arrays("X", "1m", ts, [np.nan, -0.0, 1.5, 2.0], [1.0, 2.0, 3.0, 4.0],
                            [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.0, 5.0, 6.0, 7.0])


def test_fingerprint_is_the_md5_of_postgresqls_send_format():
    bars = _bars()
    wire = b"".join(
        struct.pack(">q5d", int(bars.ts[k]) // 1000 - PG_EPOCH_US, bars.open[k], bars.high[k],
                    bars.low[k], bars.close[k], bars.volume[k])
        for k in range(1, 3)
    )
    got = fingerprint(bars, int(bars.ts[1]), int(bars.ts[3]))
    assert got == Fingerprint(2, hashlib.md5(wire).hexdigest())  # noqa: S324 - a checksum


def test_fingerprint_sees_one_ulp_and_the_sign_of_zero():
    bars = _bars()
    whole = fingerprint(bars, 0, 2**62)
    for column, k, value in (("close", 3, np.nextafter(4.0, 5.0)), ("open", 1, 0.0)):
        cols = {name: getattr(bars, name).copy() for name in ("open", "high", "low", "close",
                                                               "volume")}
        cols[column][k] = value
        changed = Bars.from_arrays("X", "1m", bars.ts, cols["open"], cols["high"], cols["low"],
                                   cols["close"], cols["volume"])
        assert fingerprint(changed, 0, 2**62) != whole
        assert fingerprint(changed, 0, 2**62).rows == whole.rows


def test_fingerprints_of_ranges_and_empty_ones():
    bars = _bars()
    ranges = [(0, int(bars.ts[2])), (int(bars.ts[2]), 2**62), (1, 2)]
    first, second, empty = fingerprints_of(bars, ranges)
    assert (first.rows, second.rows) == (2, 2)
    assert empty == EMPTY == fingerprint(Bars.empty("X", "1m"), 0, 2**62)
    assert first != second
