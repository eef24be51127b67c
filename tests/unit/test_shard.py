"""Shards: parsing, the answer for known symbols, and the setting."""

from __future__ import annotations

import pytest

from preopen.errors import SettingsError
from preopen.settings import Settings
from preopen.shard import MAX_SHARDS, Shard, shard_of


@pytest.mark.parametrize(("text", "index", "count"), [("1/2", 1, 2), (" 3 / 4 ", 3, 4),
                                                       ("1/1", 1, 1)])
def test_parse(text, index, count):
    assert Shard.parse(text) == Shard(index, count)
    assert str(Shard.parse(text)) == f"{index}/{count}"


@pytest.mark.parametrize("text", ["", "0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2",
                                  f"1/{MAX_SHARDS + 1}", "1.0/2"])
def test_parse_refuses_with_key_value_and_accepted(text):
    with pytest.raises(SettingsError) as info:
        Shard.parse(text)
    assert info.value.key == "shard"
    assert info.value.value == text
    assert "1 <= i <= N" in info.value.accepted


def test_known_assignments_are_stable_across_processes():
    # Fixed by the digest (BLAKE2b, 8 bytes, of "j\0symbol"): written down once from
    # hashlib by hand, so a change of the hash function or of the 1-based numbering fails.
    import hashlib  # noqa: PLC0415

    def by_hand(symbol, count):
        scores = [int.from_bytes(hashlib.blake2b(f"{j}\x00{symbol}".encode(),
                                                 digest_size=8).digest(), "big")
                  for j in range(count)]
        return scores.index(max(scores)) + 1

    for symbol in ("AAPL", "MSFT", "S0000", "BRK.B", "é"):
        for count in (1, 2, 3, 7):
            assert shard_of(symbol, count) == by_hand(symbol, count)


def test_one_shard_keeps_everything():
    assert Shard(1, 1).select(["A", "B", "C"]) == ("A", "B", "C")


def test_select_keeps_order_and_partitions():
    symbols = [f"S{i:04d}" for i in range(200)]
    halves = [Shard(i, 2).select(symbols) for i in (1, 2)]
    assert sorted(halves[0] + halves[1]) == symbols
    assert not set(halves[0]) & set(halves[1])
    assert list(halves[0]) == [s for s in symbols if s in set(halves[0])]
    assert 60 < len(halves[0]) < 140  # both shards hold a fair part


def test_shard_of_refuses_a_bad_count():
    with pytest.raises(ValueError, match="shard count 0"):
        shard_of("A", 0)


def test_setting_default_is_every_symbol_and_value_is_checked(tmp_path):
    assert Settings().shard == ""
    assert Settings().shard_or_none is None
    assert Settings(shard="2/3").shard_or_none == Shard(2, 3)
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"PREOPEN_SHARD": "4/3"})
    assert info.value.key == "shard"
    assert info.value.source == "PREOPEN_SHARD"
    path = tmp_path / "p.toml"
    path.write_text('shard = "1/2"\n')
    assert Settings.load(path).shard == "1/2"


def test_a_load_takes_only_the_shards_symbols():
    from preopen.planning.prefetch import Prefetch  # noqa: PLC0415 - the filter's one place

    shard = Shard(1, 3)
    symbols = [f"S{i:03d}" for i in range(90)]
    mine = {s for s in symbols if shard_of(s, 3) == 1}
    load = Prefetch(loaders=1, batch_size=7, max_attempts=1, empty=lambda s, i: (s, i),
                    keep=shard.keeps)
    assert load.add(symbols, ["1m", "1d"]) == 2 * len(mine)
    assert load.symbols() == frozenset(mine)
    assert load.add(["S000", "S001", "S002"], ["1m"]) == 0  # known or not its shard
