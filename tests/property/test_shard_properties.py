"""Properties of the shard split: a partition, and minimal movement when N grows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from preopen.shard import Shard, shard_of

UNIVERSE = [f"S{i:05d}" for i in range(10_000)]


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=200, unique=True),
       st.integers(min_value=1, max_value=16))
def test_every_symbol_in_exactly_one_shard(symbols, count):
    kept = [Shard(i, count).select(symbols) for i in range(1, count + 1)]
    flat = [s for part in kept for s in part]
    assert sorted(flat) == sorted(symbols)  # none lost, none twice
    for i, part in enumerate(kept, start=1):
        assert all(shard_of(s, count) == i for s in part)


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=1, max_value=12))
def test_growing_by_one_moves_about_one_in_n_plus_one(count):
    before = {s: shard_of(s, count) for s in UNIVERSE}
    after = {s: shard_of(s, count + 1) for s in UNIVERSE}
    moved = [s for s in UNIVERSE if before[s] != after[s]]
    expected = len(UNIVERSE) / (count + 1)
    assert abs(len(moved) - expected) <= 0.2 * expected
    # Only to the new shard: nothing moves between the old ones.
    assert all(after[s] == count + 1 for s in moved)
