"""PostgreSQL binary COPY, parsed and built with numpy (no Python work per bar).

The binary COPY stream: a 19-byte header (signature, flags, extension
length), tuples (int16 field count, then per field an int32 length, -1 for
NULL, and the bytes), and the int16 -1 trailer; all big-endian. A
``timestamptz`` is int64 microseconds since 2000-01-01 UTC; a ``float8``
array is a header (ndim, has-null flag, element oid, then size and lower
bound per dimension) and per element an int32 length and 8 bytes.

Two tuple shapes are read:
- rows: ``(int4 symbol index, timestamptz, 5 x float8)``, one tuple a bar,
  all 82 bytes: one fixed-width big-endian record dtype parses a whole block.
- arrays: ``(int4 symbol index, timestamptz[], 5 x float8[])``, one tuple a
  symbol: one struct read for its head, then, when its six arrays are
  one-dimensional and equally long (every tuple a load sends), one
  structured view of the six fields and one byteswapping copy into a (6, n)
  native block whose rows are the Bars' columns; any other tuple is read
  field by field and checked.
"""

from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING, Final

import numpy as np

from preopen.errors import StoreSchemaError
from preopen.model import FIELDS, RECORD_DTYPE, Bars, bars_from_block

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from numpy.typing import NDArray

    #: One symbol's bars as arrays: ts (int64 ns), open, high, low, close, volume.
    Columns = tuple[NDArray[np.generic], ...]
    #: Parsed tuples: their symbol indexes and their (tuples, 6, n) native int64 block.
    Decoded = tuple[NDArray[np.int32], NDArray[np.int64]]

__all__ = [
    "HEADER",
    "ROW_DTYPE",
    "TRAILER",
    "ArrayTupleReader",
    "encode_bars",
    "read_arrays",
    "read_rows",
    "rows_to_records",
]

HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER: Final = b"\xff\xff"
#: Microseconds from 1970-01-01 (Unix) to 2000-01-01 (PostgreSQL's epoch).
PG_EPOCH_US: Final = 946_684_800_000_000

#: One rows-shaped tuple: field count, then (length, value) for 7 fields.
ROW_DTYPE: Final = np.dtype(
    [("nfields", ">i2"), ("len_index", ">i4"), ("index", ">i4"), ("len_ts", ">i4"), ("ts", ">i8")]
    + [item for name in FIELDS[1:] for item in ((f"len_{name}", ">i4"), (name, ">f8"))]
)
_NFIELDS: Final = 7  # index + six columns
_INT4: Final = 4
_FLOAT8: Final = 8
_ARRAY_HEADER_SIZE: Final = 12
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])
_TS_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_ARRAY_HEADER = struct.Struct(">iii")
_DIMENSION = struct.Struct(">ii")
_INDEX_FIELD = struct.Struct(">ii")
#: Field count, the index field, then the first array's length and header.
_REGULAR_HEAD = struct.Struct(">hiiiiiIii")



def _schema_error(what: str) -> StoreSchemaError:
    return StoreSchemaError(f"postgresql binary copy: {what}")


def rows_to_records(
    block: bytes | bytearray | memoryview,
) -> tuple[NDArray[np.int32], NDArray[np.void]]:
    """Parse whole rows-shaped tuples into (symbol indexes, native records).

    Raises:
        StoreSchemaError: the block is not a whole number of 82-byte tuples
            or a tuple has NULLs or other field sizes (columns of other types).
    """
    if len(block) % ROW_DTYPE.itemsize:
        raise _schema_error(f"{len(block)} bytes is not a whole number of bar tuples")
    raw = np.frombuffer(block, dtype=ROW_DTYPE)
    lengths_ok = (
        (raw["nfields"] == _NFIELDS) & (raw["len_index"] == _INT4) & (raw["len_ts"] == _FLOAT8)
    )
    for name in FIELDS[1:]:
        lengths_ok &= raw[f"len_{name}"] == _FLOAT8
    if not bool(lengths_ok.all()):
        raise _schema_error("a tuple is not (int4, timestamptz, 5 x float8) without NULLs")
    records = np.empty(raw.shape[0], RECORD_DTYPE)
    records["ts"] = (raw["ts"] + PG_EPOCH_US) * 1000
    for name in FIELDS[1:]:
        records[name] = raw[name]
    return raw["index"].astype(np.int32), records


class ArrayTupleReader:
    """Parse arrays-shaped tuples from COPY chunks, however the chunks are cut."""

    def __init__(self) -> None:
        """Start before the header."""
        self._pending = b""
        self._header_seen = False
        self.finished = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Decoded]:
        """Return (symbol indexes, block) for the tuples completed by ``chunk``.

        A block is native int64 of shape (tuples, 6, n): per tuple its ts
        (int64 ns) and five prices (the bits of float64), each row in ts
        order (a tuple aggregated in scan order is sorted here: an order the
        query does not promise, not a repair); a symbol without bars has no
        row. A run of regular tuples of one length (every tuple of a clean
        load) is one block parsed in a few numpy calls.
        """
        data = self._pending + bytes(chunk) if self._pending else bytes(chunk)
        offset = 0
        out: list[Decoded] = []
        if not self._header_seen:
            if len(data) < len(HEADER):
                self._pending = data
                return out
            if data[: len(HEADER) - 4] != HEADER[:-4]:
                raise _schema_error("the stream does not start with the binary copy header")
            offset = len(HEADER) + _INT32.unpack_from(data, len(HEADER) - 4)[0]
            self._header_seen = True
        while not self.finished:
            parsed = self._parse(data, offset)
            if parsed is None:
                break
            offset, item = parsed
            if item is not None:
                out.append(item)
        self._pending = data[offset:]
        return out

    def _parse(self, data: bytes, offset: int) -> tuple[int, Decoded | None] | None:
        if len(data) - offset < _INT16.size:
            return None
        nfields = _INT16.unpack_from(data, offset)[0]
        if nfields == -1:
            self.finished = True
            return offset + _INT16.size, None
        if nfields != _NFIELDS:
            raise _schema_error(f"a tuple has {nfields} fields, expected {_NFIELDS}")
        run = _decode_run(data, offset)
        if run is not None:
            return run
        fields = _field_bounds(data, offset + _INT16.size)
        if fields is None:
            return None
        end, bounds = fields
        index, columns = _decode(data, bounds)
        if not columns:
            return end, None
        ts, *prices = columns
        block = np.stack([ts, *(p.view(np.int64) for p in prices)])[np.newaxis]
        return end, (np.array([index], np.int32), block)


def _decode_run(data: bytes, offset: int) -> tuple[int, Decoded] | None:
    """The run of regular tuples of one length at ``offset``, in a few numpy calls.

    A regular tuple holds six one-dimensional arrays of n elements, no NULL:
    each array field takes ``4 + 20 + 12 n`` bytes, so a run of such tuples
    of one n is one structured view, checked in one pass, and one
    byteswapping copy makes the native (tuples, 6, n) block. Returns (end,
    (indexes, block)) for the leading tuples that are regular and wholly
    received, or None when the first is not (the general path reads it and
    checks it field by field).
    """
    if len(data) - offset < _REGULAR_HEAD.size:
        return None
    _nfields, len_index, _index, _length, ndim, _nulls, _oid, n, _lower = (
        _REGULAR_HEAD.unpack_from(data, offset))
    if len_index != _INT4 or ndim != 1 or n < 1:
        return None
    dtype = _regular_tuple(n)
    count = (len(data) - offset) // dtype.itemsize
    if not count:
        return None
    view = np.frombuffer(data, dtype, count, offset)
    fields = view["fields"]
    ok = (view["nfields"] == _NFIELDS) & (view["len_index"] == _INT4)
    ok &= np.all(
        (fields["length"] == _INT4 + 20 + 12 * n - _INT4) & (fields["ndim"] == 1)
        & (fields["nulls"] == 0) & (fields["size"] == n), axis=1)
    # Only the leading regular tuples: past the first other one the bytes are not tuples.
    k = count if bool(ok.all()) else int(np.argmin(ok))
    if k:
        sizes_ok = np.all(fields["elements"]["length"][:k] == _FLOAT8, axis=(1, 2))
        k = k if bool(sizes_ok.all()) else int(np.argmin(sizes_ok))
    if not k:
        return None
    indexes = view["index"][:k].astype(np.int32)
    block = fields["elements"]["value"][:k].astype(np.int64)
    ts = block[:, 0]
    ts += PG_EPOCH_US
    ts *= 1000
    return offset + k * dtype.itemsize, (indexes, block)


@functools.cache
def _regular_tuple(n: int) -> np.dtype[np.void]:
    """One regular tuple: its field count, the symbol index field and six array fields."""
    return np.dtype([
        ("nfields", ">i2"), ("len_index", ">i4"), ("index", ">i4"),
        ("fields", _regular_field(n), (len(FIELDS),)),
    ])


@functools.cache
def _regular_field(n: int) -> np.dtype[np.void]:
    """One array field of ``n`` 8-byte elements: its length, header and elements."""
    return np.dtype([
        ("length", ">i4"), ("ndim", ">i4"), ("nulls", ">i4"), ("oid", ">u4"), ("size", ">i4"),
        ("lower", ">i4"), ("elements", [("length", ">i4"), ("value", ">i8")], (n,)),
    ])


def _field_bounds(data: bytes, position: int) -> tuple[int, list[tuple[int, int]]] | None:
    """(end, [(start, length)] of the 7 fields), or None when the tuple is incomplete."""
    bounds: list[tuple[int, int]] = []
    for _ in range(_NFIELDS):
        if len(data) - position < _INT4:
            return None
        length = _INT32.unpack_from(data, position)[0]
        position += _INT4
        bounds.append((position, length))
        position += max(length, 0)
        if position > len(data):
            return None
    return position, bounds


def _decode(data: bytes, bounds: list[tuple[int, int]]) -> tuple[int, Columns]:
    index_start, index_length = bounds[0]
    if index_length != _INT4:
        raise _schema_error("the symbol index is not an int4")
    index = _INT32.unpack_from(data, index_start)[0]
    if bounds[1][1] < 0:
        # No bars: the aggregates of an empty set are NULL.
        return index, ()
    columns = [
        _array_values(data, start, length, _TS_ELEMENT if name == "ts" else _ELEMENT)
        for name, (start, length) in zip(FIELDS, bounds[1:], strict=True)
    ]
    if len({column.shape[0] for column in columns}) != 1:
        raise _schema_error("the arrays of one symbol differ in length")
    ts = columns[0].astype(np.int64)
    ts += PG_EPOCH_US
    ts *= 1000
    prices = [column.astype(np.float64) for column in columns[1:]]
    if ts.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        # The set shape aggregates in scan order: put the bars in ts order
        # (the primary key rules out duplicates; this repairs nothing).
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        prices = [column[order] for column in prices]
    # Fresh native copies no one else holds: read-only, Bars takes them as they are.
    for column in (ts, *prices):
        column.flags.writeable = False
    return index, (ts, *prices)


def _array_values(
    data: bytes, start: int, length: int, element: np.dtype[np.void]
) -> NDArray[np.generic]:
    if length < _ARRAY_HEADER_SIZE:
        raise _schema_error("an array field is NULL or too short")
    ndim, has_null, _oid = _ARRAY_HEADER.unpack_from(data, start)
    if ndim == 0:
        return np.empty(0, element)["value"]
    if ndim != 1 or has_null:
        raise _schema_error("an array is not one-dimensional or holds NULLs")
    size, _lower = _DIMENSION.unpack_from(data, start + 12)
    items = np.frombuffer(data, dtype=element, count=size, offset=start + 20)
    if size * element.itemsize != length - 20 or not bool((items["length"] == _FLOAT8).all()):
        raise _schema_error("array elements are not 8 bytes each")
    return items["value"]


def encode_bars(
    interval: str, bars_by_symbol: Mapping[str, Bars], encoding: str = "utf-8"
) -> list[bytes]:
    """Binary COPY chunks for ``(symbol, interval, ts, open, ..., volume)``, one a symbol.

    The first chunk starts with the header; the trailer is the last chunk.

    Raises:
        ValueError: a ts that is not a whole number of microseconds.
    """
    chunks = [HEADER]
    interval_bytes = interval.encode(encoding)
    for symbol, bars in bars_by_symbol.items():
        if not len(bars):
            continue
        symbol_bytes = symbol.encode(encoding)
        dtype = np.dtype(
            [
                ("nfields", ">i2"),
                ("len_symbol", ">i4"),
                ("symbol", f"S{len(symbol_bytes)}"),
                ("len_interval", ">i4"),
                ("interval", f"S{len(interval_bytes)}"),
                ("len_ts", ">i4"),
                ("ts", ">i8"),
            ]
            + [item for name in FIELDS[1:] for item in ((f"len_{name}", ">i4"), (name, ">f8"))]
        )
        ts = bars.ts
        if bool((ts % 1000).any()):
            raise ValueError(f"bars of {symbol!r} have ts that are not whole microseconds")
        rows = np.empty(len(bars), dtype)
        rows["nfields"] = 8
        rows["len_symbol"] = len(symbol_bytes)
        rows["symbol"] = symbol_bytes
        rows["len_interval"] = len(interval_bytes)
        rows["interval"] = interval_bytes
        rows["len_ts"] = 8
        rows["ts"] = ts // 1000 - PG_EPOCH_US
        for name in FIELDS[1:]:
            rows[f"len_{name}"] = 8
            rows[name] = getattr(bars, name)
        chunks.append(rows.tobytes())
    chunks.append(TRAILER)
    return chunks


#: Rows-shaped input is parsed in blocks of about this many bytes.
_BLOCK: Final = 8 << 20


def read_arrays(
    copy: Iterable[bytes | bytearray | memoryview], symbols: list[str], interval: str
) -> dict[str, Bars]:
    """Bars by symbol from an arrays-shaped COPY stream (one tuple a symbol, any order).

    The stream's messages (one a tuple) are parsed in blocks of about
    :data:`_BLOCK` bytes, so that a run of tuples of one length is parsed,
    and its Bars built (:func:`~preopen.model.bars_from_block`), at once.
    """
    reader = ArrayTupleReader()
    out: dict[str, Bars] = {}

    def take(data: bytes) -> None:
        for indexes, block in reader.feed(data):
            names = [symbols[index - 1] for index in indexes.tolist()]
            # The set shape aggregates in scan order: bars_from_block puts them in ts order.
            built = bars_from_block(names, interval, block, sorted_by_store=False)
            out.update(zip(names, built, strict=True))

    pending: list[bytes | bytearray | memoryview] = []
    size = 0
    for chunk in copy:
        pending.append(chunk)
        size += len(chunk)
        if size >= _BLOCK:
            take(b"".join(pending))
            pending.clear()
            size = 0
    take(b"".join(pending))
    if not reader.finished:
        raise _schema_error("the stream ended inside a tuple or without its trailer")
    return out


def read_rows(
    copy: Iterable[bytes | bytearray | memoryview], symbols: list[str], interval: str
) -> dict[str, Bars]:
    """Bars by symbol from a rows-shaped COPY stream, parsed in blocks of whole tuples."""
    header_left = len(HEADER)
    pending: list[bytes] = []
    size = 0
    pieces: dict[int, list[NDArray[np.void]]] = {}
    for chunk in copy:
        data = bytes(chunk)
        if header_left:
            # The header (no extension area is ever sent) precedes the first tuple.
            data = data[header_left:]
            header_left = 0
        pending.append(data)
        size += len(data)
        if size >= _BLOCK:
            _take_block(pending, pieces)
            size = sum(len(p) for p in pending)
    if pending and pending[-1].endswith(b"\xff\xff"):
        pending[-1] = pending[-1][:-2]
    _take_block(pending, pieces, final=True)
    out: dict[str, Bars] = {}
    for index, parts in pieces.items():
        symbol = symbols[index - 1]
        records = parts[0] if len(parts) == 1 else np.concatenate(parts)
        out[symbol] = Bars.from_records(symbol, interval, records)
    return out


def _take_block(
    pending: list[bytes], pieces: dict[int, list[NDArray[np.void]]], *, final: bool = False
) -> None:
    """Parse the whole tuples in ``pending``; leave a partial one behind."""
    block = b"".join(pending)
    pending.clear()
    usable = len(block) if final else len(block) - len(block) % ROW_DTYPE.itemsize
    if usable < len(block):
        pending.append(block[usable:])
    if not usable:
        return
    indexes, records = rows_to_records(memoryview(block)[:usable])
    records.flags.writeable = False
    if indexes.shape[0] > 1 and not bool(np.all(indexes[1:] >= indexes[:-1])):
        order = np.argsort(indexes, kind="stable")
        indexes, records = indexes[order], records[order]
        records.flags.writeable = False
    cuts = np.flatnonzero(indexes[1:] != indexes[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [indexes.shape[0]]))
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        pieces.setdefault(int(indexes[lo]), []).append(records[lo:hi])
