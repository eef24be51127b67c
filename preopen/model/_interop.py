"""Arrow and pandas views of tables and Bars; the optional extras load here, on use.

Zero-copy where the format allows: every Arrow buffer of a price or ts column
is the numpy column's own memory (``pyarrow.py_buffer`` wraps it). The
symbol column is the one thing made: int32 codes (4 bytes a bar) over a
dictionary of the symbols.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from preopen.errors import MissingExtraError
from preopen.model._bars import FIELDS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from preopen.model._bars import Bars
    from preopen.model._table import BarTable

__all__ = [
    "bars_stream",
    "bars_to_arrow",
    "bars_to_pandas",
    "optional",
    "table_stream",
    "table_to_arrow",
    "table_to_batch",
    "table_to_pandas",
]

#: The extra that installs each optional module.
EXTRAS: Final = {"pyarrow": "arrow", "pandas": "pandas", "polars": "polars"}


def optional(module: str, what: str = "") -> Any:  # noqa: ANN401 - a module
    """Import an optional module, or say which extra installs it.

    Raises:
        MissingExtraError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, EXTRAS.get(module, module), what) from None


def _column(pa: Any, array: NDArray[Any], kind: Any) -> Any:  # noqa: ANN401 - pyarrow objects
    """An Arrow array over a contiguous numpy column's own buffer (no copy)."""
    return pa.Array.from_buffers(kind, array.shape[0], [None, pa.py_buffer(array)])


def _fields(pa: Any, columns: tuple[NDArray[Any], ...]) -> list[Any]:  # noqa: ANN401
    ts_type = pa.timestamp("ns", tz="UTC")
    out = [_column(pa, columns[0], ts_type)]
    out.extend(_column(pa, column, pa.float64()) for column in columns[1:])
    return out


def table_to_batch(table: BarTable) -> Any:  # noqa: ANN401 - a pyarrow.RecordBatch
    """The table as one Arrow record batch over its own buffers (see :meth:`BarTable.to_arrow`)."""
    pa = optional("pyarrow", "to_arrow")
    codes = table.symbol_codes()
    symbol = pa.DictionaryArray.from_arrays(
        _column(pa, codes, pa.int32()), pa.array(table.symbols, pa.string())
    )
    metadata = {b"preopen.interval": table.interval.encode()}
    return pa.RecordBatch.from_arrays(
        [symbol, *_fields(pa, table.columns)], names=["symbol", *FIELDS], metadata=metadata
    )


def table_to_arrow(table: BarTable) -> Any:  # noqa: ANN401 - a pyarrow.Table
    """See :meth:`BarTable.to_arrow`."""
    pa = optional("pyarrow", "to_arrow")
    return pa.Table.from_batches([table_to_batch(table)])


def bars_to_arrow(bars: Bars) -> Any:  # noqa: ANN401 - a pyarrow.Table
    """See :meth:`Bars.to_arrow`."""
    pa = optional("pyarrow", "to_arrow")
    metadata = {
        b"preopen.symbol": bars.symbol.encode(),
        b"preopen.interval": bars.interval.encode(),
    }
    return pa.Table.from_arrays(_fields(pa, bars.columns), names=list(FIELDS), metadata=metadata)


def _frame(pd: Any, columns: dict[str, Any]) -> Any:  # noqa: ANN401 - a pandas.DataFrame
    # copy=False: pandas keeps each numpy column as its own block (no consolidation copy).
    return pd.DataFrame(columns, copy=False)


def _ts(pd: Any, ts: NDArray[np.int64]) -> Any:  # noqa: ANN401 - a pandas array
    """A datetime64[ns, UTC] array over the int64 column: a view where pandas allows it.

    pandas' public constructors copy when they attach a time zone; its
    ``DatetimeArray._simple_new`` wraps the buffer as is. Where that is gone,
    the public path is taken and ``ts`` is copied (8 bytes a bar).
    """
    naive = ts.view("datetime64[ns]")
    dtype = pd.DatetimeTZDtype("ns", "UTC")
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is not None:
        try:
            return simple_new(naive, dtype=dtype)
        except (TypeError, ValueError):  # pragma: no cover - a pandas that changed it
            pass
    return pd.Series(naive).dt.tz_localize("UTC").array  # pragma: no cover - see above


def table_to_pandas(table: BarTable) -> Any:  # noqa: ANN401 - a pandas.DataFrame
    """See :meth:`BarTable.to_pandas`."""
    pd = optional("pandas", "to_pandas")
    symbol = pd.Categorical.from_codes(table.symbol_codes(), categories=list(table.symbols))
    columns: dict[str, Any] = {"symbol": symbol, "ts": _ts(pd, table.ts)}
    columns.update((name, getattr(table, name)) for name in FIELDS[1:])
    return _frame(pd, columns)


def bars_to_pandas(bars: Bars) -> Any:  # noqa: ANN401 - a pandas.DataFrame
    """See :meth:`Bars.to_pandas`."""
    pd = optional("pandas", "to_pandas")
    columns: dict[str, Any] = {"ts": _ts(pd, bars.ts)}
    columns.update((name, getattr(bars, name)) for name in FIELDS[1:])
    return _frame(pd, columns)


def _price_columns(owner: Bars | BarTable) -> list[Any]:
    from preopen.model._arrow_c import Column  # noqa: PLC0415 - ctypes loads on use

    columns = [Column("ts", "tsn:UTC", [None, owner.ts])]
    columns.extend(Column(name, "g", [None, getattr(owner, name)]) for name in FIELDS[1:])
    return columns


def table_stream(table: BarTable) -> object:
    """An Arrow C stream capsule of the table (see :mod:`preopen.model._arrow_c`), no pyarrow."""
    from preopen.model._arrow_c import Column, export_stream  # noqa: PLC0415

    symbol = Column("symbol", "i", [None, table.symbol_codes()], dictionary=table.symbols)
    return export_stream([symbol, *_price_columns(table)])


def bars_stream(bars: Bars) -> object:
    """An Arrow C stream capsule of one symbol's bars, no pyarrow."""
    from preopen.model._arrow_c import export_stream  # noqa: PLC0415

    return export_stream(_price_columns(bars))
