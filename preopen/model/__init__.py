"""Immutable values that cross actor boundaries: Bars, SessionSnapshot, ValidationReport.

Also the hand-off from a snapshot's history to live bars (:func:`handoff`, :func:`join_live`).

Pure: numpy and the standard library only, never an actor or a database.
"""

from __future__ import annotations

from preopen.model._bars import FIELDS, RECORD_DTYPE, BarRepairs, Bars, to_ns
from preopen.model._handoff import Handoff, HandoffTable, handoff, handoffs
from preopen.model._intervals import DAILY, INTERVALS, parse_interval
from preopen.model._join import Gap, JoinCheck, check_join, join_live
from preopen.model._report import SymbolReport, ValidationReport
from preopen.model._snapshot import SessionSnapshot
from preopen.model._validate import SessionGrid, check_bars, session_grid, validate

__all__ = [
    "DAILY",
    "FIELDS",
    "INTERVALS",
    "RECORD_DTYPE",
    "BarRepairs",
    "Bars",
    "Gap",
    "Handoff",
    "HandoffTable",
    "JoinCheck",
    "SessionGrid",
    "SessionSnapshot",
    "SymbolReport",
    "ValidationReport",
    "check_bars",
    "check_join",
    "handoff",
    "handoffs",
    "join_live",
    "parse_interval",
    "session_grid",
    "to_ns",
    "validate",
]
