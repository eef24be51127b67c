"""Reading a child process's output line by line, with a timeout per line."""

from __future__ import annotations

import queue
from typing import IO

#: Seconds to wait for the next line before the test fails (only a hang hits it).
LINE_TIMEOUT_S = 60


def pump_lines(stream: IO[str], sink: queue.SimpleQueue) -> None:
    """Put every line of ``stream`` into ``sink``, then None at its end (run in a thread)."""
    for line in stream:
        sink.put(line)
    sink.put(None)


def next_line(lines: queue.SimpleQueue, seen: list[str]) -> str:
    """The next line (also appended to ``seen``); fails if the process ended first."""
    line = lines.get(timeout=LINE_TIMEOUT_S)
    assert line is not None, "the process ended early:\n" + "".join(seen)
    seen.append(line)
    return line


def wait_for_line(lines: queue.SimpleQueue, needle: str, seen: list[str]) -> str:
    """The first next line holding ``needle``."""
    while True:
        line = next_line(lines, seen)
        if needle in line:
            return line
