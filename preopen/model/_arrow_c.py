"""The Arrow C stream interface, produced with ctypes: no pyarrow needed.

``__arrow_c_stream__`` on tables and Bars returns a PyCapsule named
``arrow_array_stream`` holding an ``ArrowArrayStream`` (the Arrow C data
interface) whose single record batch's buffers are the numpy columns
themselves, so pyarrow, polars, DuckDB and any other consumer of the
PyCapsule protocol read them without a copy, and preopen imports none of
them. Only the symbol dictionary (UTF-8 strings) and the per-bar symbol codes
are made for the export.

Lifetimes follow the C data interface: every exported struct carries in
``private_data`` the key of a registry entry that holds what its pointers
point to (numpy arrays, pointer arrays, strings, child structs); its release
callback drops that entry and marks the struct released. A consumer may move
a struct (or a child) and release it later: each array node has its own
entry, so a moved child keeps its buffers alive after its parent is released.
"""

from __future__ import annotations

import ctypes
import itertools
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = ["Column", "export_stream"]

_NULLABLE: Final = 2


class ArrowSchema(ctypes.Structure):
    """struct ArrowSchema."""


class ArrowArray(ctypes.Structure):
    """struct ArrowArray."""


class ArrowArrayStream(ctypes.Structure):
    """struct ArrowArrayStream."""


_SchemaRelease = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))
_ArrayRelease = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))
_GetSchema = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowSchema)
)
_GetNext = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ArrowArrayStream), ctypes.POINTER(ArrowArray)
)
_GetLastError = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(ArrowArrayStream))
_StreamRelease = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))

ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", _SchemaRelease),
    ("private_data", ctypes.c_void_p),
]
ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", _ArrayRelease),
    ("private_data", ctypes.c_void_p),
]
ArrowArrayStream._fields_ = [
    ("get_schema", _GetSchema),
    ("get_next", _GetNext),
    ("get_last_error", _GetLastError),
    ("release", _StreamRelease),
    ("private_data", ctypes.c_void_p),
]

# What each exported struct's pointers point to, by the key in its private_data.
_KEEP: dict[int, list[Any]] = {}
_KEYS = itertools.count(1)


class Column:
    """One exported column: a name, its Arrow format, its buffers and its dictionary.

    Attributes:
        name: the field name.
        format: the Arrow format string (``l``, ``g``, ``tsn:UTC``, ``i``).
        length: the number of values.
        buffers: the buffers (None for an absent validity bitmap); numpy arrays.
        dictionary: for a dictionary column, the dictionary's strings.
    """

    __slots__ = ("buffers", "dictionary", "format", "length", "name")

    def __init__(
        self,
        name: str,
        format: str,  # noqa: A002 - the C interface's name for it
        buffers: Sequence[NDArray[Any] | None],
        dictionary: Sequence[str] | None = None,
    ) -> None:
        """Describe one column (see the class docstring)."""
        self.name = name
        self.format = format
        self.buffers = list(buffers)
        data = self.buffers[-1]
        self.length = 0 if data is None else int(data.shape[0])
        self.dictionary = dictionary


def _keep(*things: Any) -> int:  # noqa: ANN401 - anything a struct points to
    key = next(_KEYS)
    _KEEP[key] = list(things)
    return key


def _release_schema_fn(schema: Any) -> None:  # noqa: ANN401 - a ctypes pointer
    node = schema.contents
    _release_schema_node(node)


_RELEASE_SCHEMA: Any = _SchemaRelease(_release_schema_fn)


def _release_schema_node(node: ArrowSchema) -> None:
    kept = _KEEP.pop(node.private_data or 0, None)
    if kept is not None:
        for child in kept[0]:  # children and dictionary not yet released
            if child.release:
                _release_schema_node(child)
    node.release = _SchemaRelease()


def _release_array_fn(array: Any) -> None:  # noqa: ANN401 - a ctypes pointer
    _release_array_node(array.contents)


_RELEASE_ARRAY: Any = _ArrayRelease(_release_array_fn)


def _release_array_node(node: ArrowArray) -> None:
    kept = _KEEP.pop(node.private_data or 0, None)
    if kept is not None:
        for child in kept[0]:
            if child.release:
                _release_array_node(child)
    node.release = _ArrayRelease()


def _fill_schema(  # noqa: PLR0917 - the fields of one schema node
    out: ArrowSchema,
    format: bytes,  # noqa: A002 - the C interface's name for it
    name: bytes,
    flags: int,
    children: list[ArrowSchema],
    dictionary: ArrowSchema | None,
) -> None:
    pointers = (ctypes.POINTER(ArrowSchema) * max(len(children), 1))(
        *[ctypes.pointer(child) for child in children]
    )
    out.format = format
    out.name = name
    out.metadata = None
    out.flags = flags
    out.n_children = len(children)
    out.children = pointers if children else None
    out.dictionary = ctypes.pointer(dictionary) if dictionary is not None else None
    owned = [*children, *([dictionary] if dictionary is not None else [])]
    out.private_data = _keep(owned, pointers, format, name)
    out.release = _RELEASE_SCHEMA


def _column_schema(column: Column) -> ArrowSchema:
    node = ArrowSchema()
    dictionary = None
    if column.dictionary is not None:
        dictionary = ArrowSchema()
        _fill_schema(dictionary, b"u", b"", _NULLABLE, [], None)
    _fill_schema(node, column.format.encode(), column.name.encode(), _NULLABLE, [], dictionary)
    return node


def _fill_array(  # noqa: PLR0917 - the fields of one array node
    out: ArrowArray,
    length: int,
    buffers: Sequence[NDArray[Any] | bytes | None],
    children: list[ArrowArray],
    dictionary: ArrowArray | None,
    keep: Sequence[Any] = (),
) -> None:
    addresses = (ctypes.c_void_p * max(len(buffers), 1))()
    for i, buffer in enumerate(buffers):
        if isinstance(buffer, np.ndarray):
            addresses[i] = buffer.ctypes.data
        elif isinstance(buffer, bytes):
            addresses[i] = ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p).value
    pointers = (ctypes.POINTER(ArrowArray) * max(len(children), 1))(
        *[ctypes.pointer(child) for child in children]
    )
    out.length = length
    out.null_count = 0
    out.offset = 0
    out.n_buffers = len(buffers)
    out.n_children = len(children)
    out.buffers = addresses
    out.children = pointers if children else None
    out.dictionary = ctypes.pointer(dictionary) if dictionary is not None else None
    owned = [*children, *([dictionary] if dictionary is not None else [])]
    out.private_data = _keep(owned, addresses, pointers, list(buffers), list(keep))
    out.release = _RELEASE_ARRAY


def _dictionary_array(strings: Sequence[str]) -> ArrowArray:
    encoded = [s.encode() for s in strings]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = b"".join(encoded) or b"\0"
    node = ArrowArray()
    _fill_array(node, len(encoded), [None, offsets, data], [], None)
    return node


def _column_array(column: Column) -> ArrowArray:
    node = ArrowArray()
    dictionary = None if column.dictionary is None else _dictionary_array(column.dictionary)
    _fill_array(node, column.length, column.buffers, [], dictionary)
    return node


class _Stream:
    """What a stream needs: its columns, whether the batch was handed out, the last error."""

    __slots__ = ("columns", "done", "error")

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self.done = False
        self.error = b""


def _state(stream: Any) -> _Stream:  # noqa: ANN401 - a ctypes pointer
    return _KEEP[stream.contents.private_data][0]  # type: ignore[no-any-return]


def _get_schema_fn(stream: Any, out: Any) -> int:  # noqa: ANN401 - ctypes pointers
    try:
        children = [_column_schema(column) for column in _state(stream).columns]
        _fill_schema(out.contents, b"+s", b"", 0, children, None)
    except Exception as exc:  # noqa: BLE001 - reported through get_last_error
        _state(stream).error = str(exc).encode()
        return 5  # EIO
    return 0


_GET_SCHEMA: Any = _GetSchema(_get_schema_fn)


def _get_next_fn(stream: Any, out: Any) -> int:  # noqa: ANN401 - ctypes pointers
    try:
        state = _state(stream)
        if state.done:
            out.contents.release = _ArrayRelease()  # the end of the stream
            return 0
        children = [_column_array(column) for column in state.columns]
        length = children[0].length if children else 0
        _fill_array(out.contents, length, [None], children, None)
        state.done = True
    except Exception as exc:  # noqa: BLE001 - reported through get_last_error
        _state(stream).error = str(exc).encode()
        return 5  # EIO
    return 0


_GET_NEXT: Any = _GetNext(_get_next_fn)


def _get_last_error_fn(stream: Any) -> int | None:  # noqa: ANN401 - a ctypes pointer
    error = _state(stream).error
    return ctypes.cast(ctypes.c_char_p(error), ctypes.c_void_p).value if error else None


_GET_LAST_ERROR: Any = _GetLastError(_get_last_error_fn)


def _release_stream_fn(stream: Any) -> None:  # noqa: ANN401 - a ctypes pointer
    node = stream.contents
    _KEEP.pop(node.private_data or 0, None)
    node.release = _StreamRelease()


_RELEASE_STREAM: Any = _StreamRelease(_release_stream_fn)


_CAPSULE_NAME: Final = b"arrow_array_stream"
_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _Destructor]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_CAPSULES: dict[int, ArrowArrayStream] = {}  # the stream structs capsules point to


def _destroy_capsule_fn(capsule: int) -> None:
    address = _capsule_pointer(capsule, _CAPSULE_NAME)
    stream = _CAPSULES.pop(address or 0, None)
    if stream is not None and stream.release:
        _release_stream_fn(ctypes.pointer(stream))


_DESTROY_CAPSULE: Any = _Destructor(_destroy_capsule_fn)


def export_stream(columns: list[Column]) -> object:
    """A PyCapsule ``arrow_array_stream`` of one record batch made of ``columns`` (no copy)."""
    stream = ArrowArrayStream()
    stream.get_schema = _GET_SCHEMA
    stream.get_next = _GET_NEXT
    stream.get_last_error = _GET_LAST_ERROR
    stream.release = _RELEASE_STREAM
    stream.private_data = _keep(_Stream(columns))
    address = ctypes.addressof(stream)
    _CAPSULES[address] = stream
    return _capsule_new(address, _CAPSULE_NAME, _DESTROY_CAPSULE)
