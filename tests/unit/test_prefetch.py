"""The prefetch bookkeeping, on in-memory fakes: batching, in-flight bounds, replies, retries."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preopen.actors import Prefetch
from preopen.status import Progress


@dataclass(frozen=True)
class FakeBars:
    symbol: str
    interval: str
    n: int

    def __len__(self):
        return self.n

    @property
    def nbytes(self):
        return self.n * 48


def empty(symbol, interval):
    return FakeBars(symbol, interval, 0)


def make(loaders=2, batch_size=100, max_attempts=3, per_loader=2):
    return Prefetch(loaders=loaders, batch_size=batch_size, max_attempts=max_attempts,
                    empty=empty, per_loader=per_loader, ids=itertools.count(1))


def names(n):
    return [f"S{i:04d}" for i in range(n)]


def reply(batch, n=10, skip=()):
    return {s: FakeBars(s, batch.interval, n) for s in batch.symbols if s not in skip}


def run(prefetch, outcome, limit=10_000):
    """Drive the prefetch to done; ``outcome(batch)`` returns bars or (error, transient)."""
    sent = 0
    while not prefetch.done:
        batches = prefetch.dispatch()
        assert batches, "not done, yet nothing to dispatch and nothing in flight"
        for _, batch in batches:
            sent += 1
            assert sent < limit
            result = outcome(batch)
            if isinstance(result, tuple):
                prefetch.failed(batch.request_id, result[0], transient=result[1])
            else:
                prefetch.loaded(batch.request_id, result)
    return sent


def test_batches_are_cut_by_size_per_interval_sorted():
    p = make(loaders=10, batch_size=100, per_loader=1)
    symbols = names(250)
    assert p.add(reversed(symbols), ["1m", "1d"]) == 500
    batches = [b for _, b in p.dispatch()]
    # Answer: 250 symbols in batches of 100 -> 100, 100, 50, for each interval.
    assert [(b.interval, len(b.symbols)) for b in batches] == [
        ("1m", 100), ("1m", 100), ("1m", 50), ("1d", 100), ("1d", 100), ("1d", 50),
    ]
    assert batches[0].symbols == tuple(symbols[:100])
    assert batches[2].symbols == tuple(symbols[200:])
    assert all(b.attempt == 1 for b in batches)
    assert len({b.request_id for b in batches}) == 6


def test_in_flight_is_bounded_per_loader_and_refilled_on_reply():
    p = make(loaders=2, batch_size=10, per_loader=2)
    p.add(names(100), ["1m"])  # 10 batches
    first = p.dispatch()
    assert [loader for loader, _ in first] == [0, 1, 0, 1]
    assert p.dispatch() == []
    assert p.busy(0) == 2
    assert p.busy(1) == 2
    loader, batch = first[0]
    p.loaded(batch.request_id, reply(batch))
    more = p.dispatch()
    assert [ld for ld, _ in more] == [loader]
    assert p.in_flight == 4


def test_replies_are_assembled_missing_symbols_become_empty_extra_are_ignored():
    p = make(batch_size=3)
    p.add(["A", "B", "C"], ["1m"])
    [(_, batch)] = p.dispatch()
    bars = reply(batch, n=7, skip={"B"})
    bars["ZZZ"] = FakeBars("ZZZ", "1m", 5)
    assert p.loaded(batch.request_id, bars) == batch
    assert p.done
    assert p.complete
    data = p.data()
    assert set(data) == {("A", "1m"), ("B", "1m"), ("C", "1m")}
    assert len(data[("B", "1m")]) == 0
    assert p.bars_loaded == 14
    assert p.bytes_loaded == 14 * 48
    assert p.progress == Progress(done=3, total=3, failed=0)


def test_unknown_and_duplicate_replies_are_ignored():
    p = make(batch_size=2)
    p.add(["A", "B"], ["1m"])
    [(_, batch)] = p.dispatch()
    assert p.loaded(9999, {}) is None
    assert p.loaded(batch.request_id, reply(batch, n=3)) == batch
    assert p.loaded(batch.request_id, reply(batch, n=99)) is None
    assert p.failed(batch.request_id, "late", transient=True) is None
    assert len(p.data()[("A", "1m")]) == 3


def test_adding_known_keys_adds_nothing():
    p = make()
    assert p.add(["A", "B"], ["1m"]) == 2
    assert p.add(["B", "A", "C"], ["1m"]) == 1
    assert p.add(["A"], ["1m", "1d"]) == 1
    assert p.progress.total == 4
    assert p.symbols() == frozenset({"A", "B", "C"})


def test_transient_failures_retry_the_batch_whole_then_fail_it():
    p = make(batch_size=5, max_attempts=3)
    p.add(names(5), ["1m"])
    attempts = []

    def outcome(batch):
        attempts.append((batch.attempt, len(batch.symbols)))
        return ("connection refused", True)

    sent = run(p, outcome)
    assert sent == 3
    assert attempts == [(1, 5), (2, 5), (3, 5)]
    assert p.done
    assert not p.complete
    assert p.progress == Progress(done=0, total=5, failed=5)
    assert set(p.failures.values()) == {"connection refused"}
    assert p.failed_symbols() == tuple(names(5))


def test_a_poisoned_symbol_does_not_fail_its_neighbours():
    p = make(batch_size=16, max_attempts=2)
    symbols = names(16)
    poisoned = symbols[5]
    p.add(symbols, ["1m", "1d"])

    def outcome(batch):
        if poisoned in batch.symbols:
            return (f"bad data for {poisoned}", False)
        return reply(batch)

    run(p, outcome)
    assert p.done
    assert p.failures == {(poisoned, "1m"): f"bad data for {poisoned}",
                          (poisoned, "1d"): f"bad data for {poisoned}"}
    assert p.progress == Progress(done=30, total=32, failed=2)
    assert set(p.data()) == {(s, i) for s in symbols if s != poisoned for i in ("1m", "1d")}


def test_a_dead_loader_s_batches_go_to_live_loaders():
    p = make(loaders=2, batch_size=1, per_loader=2)
    p.add(["A", "B", "C", "D"], ["1m"])
    first = p.dispatch()
    on_zero = [b for ld, b in first if ld == 0]
    assert len(on_zero) == 2
    assert p.loader_lost(0) == 2
    assert p.busy(0) == 0
    again = p.dispatch()
    assert sorted(b.symbols for _, b in again) == sorted(b.symbols for b in on_zero)
    # The batch it died on (the oldest) spends an attempt; the one queued behind it does not.
    attempts = {b.symbols: b.attempt for _, b in again}
    assert [attempts[b.symbols] for b in on_zero] == [2, 1]
    # The dead loader's late answer (if any) is not taken.
    assert p.loaded(on_zero[0].request_id, reply(on_zero[0])) is None


def test_failed_keys_can_be_retried_with_fresh_attempts():
    p = make(batch_size=4, max_attempts=1)
    p.add(names(4), ["1m"])
    run(p, lambda b: ("down", True))
    assert p.progress.failed == 4
    assert p.retry_failed() == 4
    assert p.progress == Progress(done=0, total=4, failed=0)
    run(p, reply)
    assert p.complete


def test_data_can_be_restricted_to_symbols():
    p = make()
    p.add(["A", "B"], ["1m"])
    run(p, reply)
    assert set(p.data({"A"})) == {("A", "1m")}


@pytest.mark.parametrize(("name", "value"), [("loaders", 0), ("batch_size", 0),
                                             ("max_attempts", 0), ("per_loader", -1)])
def test_counts_below_one_are_refused(name, value):
    kwargs = {"loaders": 1, "batch_size": 1, "max_attempts": 1, "per_loader": 1, name: value}
    with pytest.raises(ValueError, match=f"{name}={value}"):
        Prefetch(empty=empty, **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 8),
    loaders=st.integers(1, 3),
    max_attempts=st.integers(1, 3),
    poisoned=st.sets(st.integers(0, 39), max_size=3),
    flaky=st.lists(st.booleans(), min_size=1, max_size=50),
    deaths=st.lists(st.integers(0, 2), max_size=5),
)
def test_every_key_ends_loaded_or_failed_and_counts_add_up(  # noqa: PLR0917 - hypothesis fills them
    n, batch_size, loaders, max_attempts, poisoned, flaky, deaths,
):
    p = make(loaders=loaders, batch_size=batch_size, max_attempts=max_attempts)
    symbols = names(n)
    bad = {symbols[i] for i in poisoned if i < n}
    p.add(symbols, ["1m", "1d"])
    flips = itertools.cycle(flaky)
    deaths = list(deaths)
    steps = 0
    loaded = set()  # the keys this test answered with bars: an independent count
    while not p.done:
        steps += 1
        assert steps < 10_000
        batches = p.dispatch()
        assert batches
        for loader, batch in batches:
            assert p.busy(loader) <= 2
            prog = p.progress
            assert prog.total == 2 * n
            assert prog.done == len(loaded)
            if deaths and deaths[0] == loader % 3:
                deaths.pop(0)
                p.loader_lost(loader)
                continue
            if bad & set(batch.symbols):
                p.failed(batch.request_id, "poison", transient=False)
            elif next(flips):
                p.failed(batch.request_id, "flaky", transient=True)
            elif p.loaded(batch.request_id, reply(batch)) is not None:  # not lost meanwhile
                loaded.update((s, batch.interval) for s in batch.symbols)
    prog = p.progress
    assert prog.total == 2 * n
    assert prog.done == len(loaded)
    assert prog.failed == 2 * n - len(loaded)  # every key not loaded ended failed
    assert prog.pending == 0
    # A poisoned symbol never loads; a clean one fails only by exhausting flaky attempts.
    assert {s for s, _ in p.failures if s in bad} == bad
    assert not (bad & {s for s, _ in p.data()})
