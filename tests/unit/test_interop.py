"""Arrow, polars and pandas read tables and Bars without copying the price columns."""

import datetime as dt
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.model import BarTable
from preopen.store.synthetic import synthetic_bars

pa = pytest.importorskip("pyarrow")
pl = pytest.importorskip("polars")
pd = pytest.importorskip("pandas")

XNYS = get_calendar("XNYS")
DAYS = XNYS.sessions(dt.date(2024, 7, 1), dt.date(2024, 7, 5))
PRICES = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def table():
    return BarTable.from_bars("1m", synthetic_bars(["AAA", "BBB", "CCC"], XNYS, DAYS, "1m"))


def data_address(chunk):
    return chunk.buffers()[1].address


def test_to_arrow_is_zero_copy_with_a_dictionary_symbol(table):
    arrow = table.to_arrow()
    assert arrow.column_names == ["symbol", "ts", "open", "high", "low", "close", "volume"]
    assert arrow.schema.field("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert arrow.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert arrow.schema.metadata[b"preopen.interval"] == b"1m"
    for name in ("ts", *PRICES):
        column = arrow.column(name)
        assert column.num_chunks == 1
        assert data_address(column.chunk(0)) == getattr(table, name).ctypes.data, name
    symbols = arrow.column("symbol").to_pylist()
    assert symbols[0] == "AAA"
    assert symbols[-1] == "CCC"
    assert symbols.count("BBB") == table.nbars // 3


def test_pyarrow_reads_the_capsule_stream_without_copy(table):
    arrow = pa.table(table)
    assert arrow.schema.field("symbol").type == pa.dictionary(pa.int32(), pa.string())
    assert arrow.column("symbol").to_pylist() == table.to_arrow().column("symbol").to_pylist()
    for name in ("ts", *PRICES):
        assert data_address(arrow.column(name).chunk(0)) == getattr(table, name).ctypes.data
    bars = table.bars("BBB")
    from_bars = pa.table(bars)
    assert from_bars.column_names == ["ts", *PRICES]
    for name in ("ts", *PRICES):
        assert data_address(from_bars.column(name).chunk(0)) == getattr(bars, name).ctypes.data


def test_polars_reads_the_capsule_stream_without_copy(table):
    frame = pl.DataFrame(table)
    assert frame.columns == ["symbol", "ts", *PRICES]
    assert frame.schema["ts"] == pl.Datetime("ns", "UTC")
    for name in PRICES:
        assert np.shares_memory(frame[name].to_numpy(), getattr(table, name)), name
    assert frame["symbol"].cast(pl.String).to_list()[-1] == "CCC"
    # polars' from_arrow reads a capsule as one struct column
    unnested = pl.from_arrow(table).struct.unnest()
    assert np.shares_memory(unnested["close"].to_numpy(), table.close)
    bars = table.bars("AAA")
    assert np.shares_memory(pl.DataFrame(bars)["close"].to_numpy(), bars.close)


def test_to_pandas_shares_the_price_and_ts_columns(table):
    frame = table.to_pandas()
    assert list(frame.columns) == ["symbol", "ts", *PRICES]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-07-01 13:30", tz="UTC")
    for name in PRICES:
        assert np.shares_memory(frame[name].to_numpy(), getattr(table, name)), name
    assert np.shares_memory(frame["ts"].array._ndarray, table.ts)
    assert list(frame["symbol"].cat.categories) == ["AAA", "BBB", "CCC"]
    bars = table.bars("CCC")
    small = bars.to_pandas()
    assert list(small.columns) == ["ts", *PRICES]
    assert np.shares_memory(small["close"].to_numpy(), bars.close)
    assert small["close"].tolist() == bars.close.tolist()


def run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_no_optional_package_is_imported_by_the_core():
    done = run("""
        import sys, datetime as dt
        import preopen, preopen.model, preopen.runtime
        from preopen.calendar import get_calendar
        from preopen.model import SessionSnapshot
        from preopen.store.synthetic import synthetic_bars
        cal = get_calendar("XNYS")
        days = cal.sessions(dt.date(2024, 7, 1), dt.date(2024, 7, 2))
        data = {(s, "1m"): b for s, b in synthetic_bars(["A"], cal, days, "1m").items()}
        snap = SessionSnapshot.assemble(days[1], cal.open_at(days[1]), cal.close_at(days[1]),
                                        data, cal, days, ["1m"], cal.open_at(days[0]))
        snap.bars("A", "1m").close.sum()
        print(sorted(m for m in ("pyarrow", "pandas", "polars") if m in sys.modules))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(("module", "call", "extra"), [
    ("pyarrow", "table.to_arrow()", "arrow"),
    ("pandas", "table.bars('A').to_pandas()", "pandas"),
    ("pyarrow", "preopen.model.attach('/nonexistent-dir-for-test/manifest.json')", "arrow"),
])
def test_a_missing_extra_names_what_to_install(module, call, extra):
    done = run(f"""
        import sys, datetime as dt
        sys.modules[{module!r}] = None  # as if not installed
        import numpy as np
        import preopen.model
        from preopen.errors import MissingExtraError
        ts = np.array([1_720_013_400_000_000_000])
        bars = preopen.model.Bars.from_arrays("A", "1m", ts, [1.0], [1.0], [1.0], [1.0], [1.0])
        table = preopen.model.BarTable.from_bars("1m", {{"A": bars}})
        try:
            {call}
        except MissingExtraError as exc:
            print(type(exc).__mro__[1].__name__, isinstance(exc, ImportError), exc)
    """)
    assert done.returncode == 0, done.stderr
    assert f"pip install 'preopen[{extra}]'" in done.stdout
    assert "True" in done.stdout


def test_the_capsule_stream_needs_no_pyarrow_polars_reads_it_without_copy():
    done = run("""
        import sys
        sys.modules["pyarrow"] = None  # as if not installed
        import numpy as np
        import polars as pl
        import preopen.model
        ts = np.array([1_720_013_400_000_000_000, 1_720_013_460_000_000_000])
        def bars(symbol):
            p = [1.0, 2.0]
            return preopen.model.Bars.from_arrays(symbol, "1m", ts, p, p, p, p, [5.0, 6.0])
        table = preopen.model.BarTable.from_bars("1m", {"A": bars("A"), "B": bars("B")})
        frame = pl.DataFrame(table)
        print(frame["symbol"].cast(pl.String).to_list(), frame["volume"].to_list(),
              np.shares_memory(frame["close"].to_numpy(), table.close))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['A',", "'A',", "'B',", "'B']", "[5.0,", "6.0,", "5.0,",
                                   "6.0]", "True"]


def test_every_exported_struct_is_released():
    import gc  # noqa: PLC0415

    from preopen.model import _arrow_c  # noqa: PLC0415 - the registry of exported structs

    table = BarTable.from_bars("1m", synthetic_bars(["AAA", "BBB"], XNYS, DAYS, "1m"))
    frames = [pa.table(table), pl.DataFrame(table), pl.from_arrow(table)]
    frames.append(pa.table(table.bars("AAA")))
    unread = table.__arrow_c_stream__()
    assert _arrow_c._KEEP  # the arrays are alive while the readers hold them
    del frames, unread
    gc.collect()
    assert not _arrow_c._KEEP
    assert not _arrow_c._CAPSULES
