"""Immutable values that cross actor boundaries: BarTable, Bars, SessionSnapshot, ValidationReport.

Also the hand-off from a snapshot's history to live bars (:func:`handoff`, :func:`join_live`).

Pure: numpy and the standard library only, never an actor or a database.
pyarrow, pandas and polars are optional: they load only when a method that
needs them is called (``to_arrow``, ``to_pandas``, ``publish_snapshot``,
``attach``). Publishing and attaching need pyarrow (``preopen[arrow]``).
"""

from __future__ import annotations

from preopen.model._attach import SnapshotFollower, attach, verify_published
from preopen.model._bars import FIELDS, RECORD_DTYPE, BarRepairs, Bars, to_ns
from preopen.model._block import bars_from_block
from preopen.model._closed import closed_day_spans, drop_closed_days
from preopen.model._grid import SessionGrid, expected_count, session_grid
from preopen.model._handoff import Handoff, HandoffTable, handoff, handoffs
from preopen.model._intervals import DAILY, INTERVALS, parse_interval
from preopen.model._join import Gap, JoinCheck, check_join, join_live
from preopen.model._publish import (
    Publication,
    Staged,
    make_current,
    publish_snapshot,
    stage_snapshot,
)
from preopen.model._report import COUNT_FIELDS, SymbolReport, ValidationReport
from preopen.model._reserve import ColumnReservation, TableMemory
from preopen.model._reuse import assemble_tables, clean_keys, known_heads, reuse_bars
from preopen.model._snapshot import SessionSnapshot
from preopen.model._table import BarTable
from preopen.model._validate import check_bars, check_table, validate, validate_tables

__all__ = [
    "COUNT_FIELDS",
    "DAILY",
    "FIELDS",
    "INTERVALS",
    "RECORD_DTYPE",
    "BarRepairs",
    "BarTable",
    "Bars",
    "ColumnReservation",
    "Gap",
    "Handoff",
    "HandoffTable",
    "JoinCheck",
    "Publication",
    "SessionGrid",
    "SessionSnapshot",
    "SnapshotFollower",
    "Staged",
    "SymbolReport",
    "TableMemory",
    "ValidationReport",
    "assemble_tables",
    "attach",
    "bars_from_block",
    "check_bars",
    "check_join",
    "check_table",
    "clean_keys",
    "closed_day_spans",
    "drop_closed_days",
    "expected_count",
    "handoff",
    "handoffs",
    "join_live",
    "known_heads",
    "make_current",
    "parse_interval",
    "publish_snapshot",
    "reuse_bars",
    "session_grid",
    "stage_snapshot",
    "to_ns",
    "validate",
    "validate_tables",
    "verify_published",
]
