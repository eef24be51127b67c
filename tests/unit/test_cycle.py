"""One target session's cycle, on its own: what it waits for, when it is frozen again."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
from support.week import XNYS, at, grid_bars

from preopen.model import Bars
from preopen.planning import Cycle, Prefetch, load_spec

DAY = dt.date(2024, 11, 27)
SYMBOLS = ("AAA", "BBB", "CCC")
BARS = {s: grid_bars(s, "1d", dt.date(2024, 11, 11), dt.date(2024, 12, 3),
                     close=lambda n: np.full(n, 100.0)) for s in SYMBOLS}


def cycle_with_load(symbols=SYMBOLS):
    cycle = Cycle(load_spec(XNYS, DAY, 5, ("1d",)), at(DAY, "08:30"))
    cycle.load = Prefetch(loaders=1, batch_size=10, max_attempts=1, empty=Bars.empty,
                          ids=itertools.count(1))
    cycle.load.add(symbols, ("1d",))
    return cycle


def load_all(cycle):
    spec = cycle.spec
    for _, batch in cycle.load.dispatch():
        cycle.load.loaded(batch.request_id, {s: BARS[s].between(spec.start, spec.end)
                                             for s in batch.symbols})


def test_a_cycle_is_busy_while_a_listing_a_load_or_an_activation_is_unanswered():
    cycle = Cycle(load_spec(XNYS, DAY, 5, ("1d",)), at(DAY, "08:30"))
    assert not cycle.busy
    cycle.listing = 7
    assert cycle.busy
    cycle.listing = None
    loading = cycle_with_load()
    assert loading.busy
    load_all(loading)
    assert not loading.busy
    loading.pending = loading.freeze(loading.load.data(), XNYS, at(DAY, "09:30"))
    assert loading.busy


def test_a_snapshot_is_frozen_again_only_when_the_wanted_symbols_it_holds_differ():
    cycle = cycle_with_load()
    assert not cycle.refreeze_due(SYMBOLS)  # no snapshot yet
    load_all(cycle)
    assert not cycle.refreeze_due(SYMBOLS)  # nothing frozen yet either
    snapshot = cycle.freeze(cycle.load.data(SYMBOLS), XNYS, at(DAY, "08:40"))
    assert snapshot.symbols == SYMBOLS
    assert not cycle.refreeze_due(SYMBOLS)
    assert not cycle.refreeze_due((*SYMBOLS, "ZZZ"))  # not loaded: nothing to add
    assert cycle.refreeze_due(SYMBOLS[:2])  # fewer symbols wanted
    cycle.freeze(cycle.load.data(SYMBOLS[:2]), XNYS, at(DAY, "08:41"))
    assert cycle.refreeze_due(SYMBOLS)  # wanted again: the load still holds them
    unfinished = cycle_with_load()
    unfinished.snapshot = snapshot
    assert not unfinished.refreeze_due(SYMBOLS[:1])  # the load is not done
