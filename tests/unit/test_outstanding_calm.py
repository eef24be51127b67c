"""Outstanding.calm: what a host's read waits on while the open's messages are handled."""

from __future__ import annotations

import pendulum

from preopen.actors import Outstanding
from preopen.actors.child import ChildKey, Role
from preopen.actors.messages import Tick
from preopen.planning import Activate
from preopen.planning.orders import ListSymbols

SCHEDULER, SESSION = ChildKey(Role.SCHEDULER), ChildKey(Role.SESSION_DATA)
NOW = pendulum.datetime(2024, 11, 26, 9, 30, tz="America/New_York")


def activate():
    return Activate(snapshot=None, sent_at=0.0, symbols=0)  # the ledger never looks inside


def test_calm_waits_for_the_tick_and_the_activation_it_causes():
    ledger = Outstanding()
    assert ledger.calm.done()  # nothing urgent yet: a read does not wait
    tick = ledger.post(SCHEDULER, Tick(NOW))
    waiting = ledger.calm
    assert not waiting.done()
    swap = ledger.post(SESSION, activate())  # told while the tick is handled
    ledger.done(tick)
    assert not waiting.done()  # the swap is still to come
    ledger.settled(swap)  # swapped: the read may go on
    assert waiting.done()
    assert ledger.calm is waiting
    ledger.done(swap)  # the rest of the activation's handling changes nothing
    assert ledger.calm.done()


def test_a_tick_that_is_not_the_open_releases_the_read_when_handled():
    ledger = Outstanding()
    tick = ledger.post(SCHEDULER, Tick(NOW))
    waiting = ledger.calm
    other = ledger.post(ChildKey(Role.LOADER, 0), ListSymbols(1))  # not on the open's path
    ledger.done(tick)
    assert waiting.done()
    assert ledger.outstanding(other)


def test_the_next_urgent_message_gets_a_new_pending_future():
    ledger = Outstanding()
    first = ledger.post(SCHEDULER, Tick(NOW))
    old = ledger.calm
    ledger.done(first)
    ledger.post(SCHEDULER, Tick(NOW))
    assert old.done()
    assert ledger.calm is not old
    assert not ledger.calm.done()
