"""Shards: which symbols one host of several keeps, by rendezvous hashing.

A host configured with ``shard = "i/N"`` keeps the symbols whose stable hash
falls to shard ``i`` of ``N`` (1-based, as ``pytest-split`` and Jest number
their shards). The split needs no list to maintain: every host computes it
from the symbol alone, and any universe splits the same way on every machine
and in every process.

Rendezvous (highest random weight) hashing: each symbol scores every shard
``j`` with a fixed digest of ``(j, symbol)`` and goes to the highest score.
Going from ``N`` to ``N + 1`` shards moves a symbol only when the new shard
wins, so about ``1 / (N + 1)`` of the symbols move and the others stay where
they were. The digest is BLAKE2b from :mod:`hashlib` (8 bytes), never
Python's :func:`hash`, which is salted per process.

Pure: the standard library only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from preopen.errors import SettingsError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_SHARDS", "Shard", "shard_of"]

#: The most shards a universe may be split into.
MAX_SHARDS: Final = 1024
_FORM: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_ACCEPTED: Final = f"i/N with 1 <= i <= N <= {MAX_SHARDS}, e.g. 1/2 (empty: every symbol)"


def _score(shard: int, symbol: str) -> int:
    """The weight of ``symbol`` for the 0-based ``shard``: 8 bytes of BLAKE2b."""
    digest = hashlib.blake2b(f"{shard}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(symbol: str, count: int) -> int:
    """The 1-based shard of ``count`` that ``symbol`` falls to.

    Raises:
        ValueError: ``count`` below 1 or above :data:`MAX_SHARDS`.
    """
    if not 1 <= count <= MAX_SHARDS:
        msg = f"shard count {count} is not accepted: 1 to {MAX_SHARDS}"
        raise ValueError(msg)
    best = max(range(count), key=lambda j: _score(j, symbol))
    return best + 1


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based): the symbols one host keeps.

    Attributes:
        index: this host's shard, 1..count.
        count: how many shards the universe is split into.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        """Refuse an index outside 1..count or a count outside 1..MAX_SHARDS."""
        ok = (
            isinstance(self.index, int)
            and isinstance(self.count, int)
            and 1 <= self.index <= self.count <= MAX_SHARDS
        )
        if not ok:
            raise SettingsError("shard", f"{self.index}/{self.count}", _ACCEPTED)

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``"i/N"``.

        Raises:
            SettingsError: anything but two whole numbers with 1 <= i <= N.
        """
        match = _FORM.match(text) if isinstance(text, str) else None
        if match is None:
            raise SettingsError("shard", text, _ACCEPTED)
        return cls(int(match.group(1)), int(match.group(2)))

    def keeps(self, symbol: str) -> bool:
        """Whether ``symbol`` falls to this shard."""
        return self.count == 1 or shard_of(symbol, self.count) == self.index

    def select(self, symbols: Iterable[str]) -> tuple[str, ...]:
        """The symbols of ``symbols`` this shard keeps, in their order."""
        return tuple(symbol for symbol in symbols if self.keeps(symbol))

    def __str__(self) -> str:
        """``i/N``."""
        return f"{self.index}/{self.count}"
