"""The supervisor: restarts one-for-one, addresses that follow, escalation, no leaked thread."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import pendulum
import pykka
import pytest

from preopen.actors import (
    Address,
    Board,
    ChildSpec,
    RestartPolicy,
    SupervisedActor,
    Supervisor,
    ThreadLedger,
)
from preopen.actors.messages import Children, ChildRestarted, OnFailure, Undelivered
from preopen.clock import SimulatedClock
from preopen.errors import EscalationError

START = pendulum.datetime(2024, 11, 25, 8, 0, tz="America/New_York")
WAIT = 5.0


@dataclass(frozen=True)
class Boom:
    reason: str


@dataclass(frozen=True)
class Echo:
    text: str


class Worker(SupervisedActor):
    """Echoes to a probe queue; raises on Boom; fails its start when told to."""

    def __init__(self, context, *, probe, fail_start_generations=()):
        super().__init__(context)
        self.probe = probe
        self.fail_start_generations = fail_start_generations

    def started(self):
        if self.context.generation in self.fail_start_generations:
            raise RuntimeError(f"start failed in generation {self.context.generation}")
        self.probe.put(("started", self.context.name, self.context.generation))

    def on_receive(self, message):
        match message:
            case Boom(reason=reason):
                raise RuntimeError(reason)
            case Echo(text=text):
                self.probe.put(("echo", self.context.name, self.context.generation, text))
            case ChildRestarted() as restarted:
                self.probe.put(("restarted", restarted))


class Tree:
    def __init__(self, *, intensity=5, period_s=60.0, fail_start=()):
        self.probe: queue.Queue = queue.Queue()
        self.ledger = ThreadLedger()
        self.board = Board()
        self.a = Address("a")
        self.b = Address("b")
        self.watch = Address("watch")
        self.escalated: queue.Queue = queue.Queue()
        specs = (
            ChildSpec(self.watch, Worker, {"probe": self.probe}),
            ChildSpec(self.a, Worker, {"probe": self.probe, "fail_start_generations": fail_start}),
            ChildSpec(self.b, Worker, {"probe": self.probe}),
        )
        self.ref = Supervisor.start(
            specs, policy=RestartPolicy(intensity, period_s, base_s=0.001, cap_s=0.002, seed=1),
            ledger=self.ledger, board=self.board, clock=SimulatedClock(START),
            notify=self.watch, on_escalate=lambda: self.escalated.put("hook"),
        )
        self.generations = self.ref.ask(Children(), timeout=WAIT)

    def next(self, kind):
        while True:
            item = self.probe.get(timeout=WAIT)
            if item[0] == kind:
                return item

    def stop(self):
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=WAIT)
        for thread in self.ledger:
            thread.join(WAIT)
        assert self.ledger.alive() == ()


@pytest.fixture
def tree_factory():
    trees = []

    def make(**kwargs):
        tree = Tree(**kwargs)
        trees.append(tree)
        return tree

    yield make
    for tree in trees:
        tree.stop()


def test_children_start_in_order_with_generation_one(tree_factory):
    tree = tree_factory()
    assert tree.generations == {"watch": 1, "a": 1, "b": 1}
    started = [tree.next("started")[1] for _ in range(3)]
    assert started == ["watch", "a", "b"]


def test_a_crashed_child_is_restarted_alone_and_its_address_follows(tree_factory):
    tree = tree_factory()
    old_a, old_b = tree.a.ref, tree.b.ref
    tree.a.tell(Boom("bad batch"))
    _, restarted = tree.next("restarted")
    assert restarted == ChildRestarted("a", 1, "RuntimeError: bad batch")
    assert tree.a.ref is not old_a
    assert tree.b.ref is old_b  # one-for-one: the sibling is untouched
    assert tree.ref.ask(Children(), timeout=WAIT) == {"watch": 1, "a": 2, "b": 1}
    tree.a.tell(Echo("hello"))
    assert tree.next("echo") == ("echo", "a", 2, "hello")


def test_messages_queued_behind_a_crash_reach_the_next_incarnation(tree_factory):
    tree = tree_factory()
    tree.a.tell(Boom("die"))
    # Queued behind the crash, or told while the child is dead: either way delivered.
    for i in range(20):
        assert tree.a.tell(Echo(f"m{i}"))
    texts = [tree.next("echo") for _ in range(20)]
    assert {t[2] for t in texts} == {2}
    assert sorted(t[3] for t in texts) == sorted(f"m{i}" for i in range(20))


def test_a_message_for_a_dead_reference_is_delivered_through_the_supervisor(tree_factory):
    tree = tree_factory()
    dead = tree.a.ref
    dead.tell(Boom("die"))
    tree.next("restarted")
    assert not dead.is_alive()
    # What the address does when its reference turns out dead: hand it over.
    tree.ref.tell(Undelivered("a", Echo("late")))
    assert tree.next("echo") == ("echo", "a", 2, "late")


def test_a_failed_start_is_noticed_and_restarted(tree_factory):
    tree = tree_factory(fail_start=(1,))
    _, restarted = tree.next("restarted")
    assert restarted.child == "a"
    assert "start failed in generation 1" in restarted.error
    tree.a.tell(Echo("up"))
    assert tree.next("echo") == ("echo", "a", 2, "up")


def test_restarts_past_the_intensity_escalate_and_stop_everything(tree_factory):
    tree = tree_factory(intensity=1, period_s=60.0)
    errors: queue.Queue = queue.Queue()
    tree.ref.ask(OnFailure(errors.put), timeout=WAIT)
    tree.a.tell(Boom("first"))
    tree.next("restarted")
    tree.a.tell(Boom("second"))
    error = errors.get(timeout=WAIT)
    assert isinstance(error, EscalationError)
    assert error.child == "a"
    assert "second" in str(error)
    assert tree.escalated.get(timeout=WAIT) == "hook"
    for thread in tree.ledger:
        thread.join(WAIT)
    assert tree.ledger.alive() == ()
    assert not tree.ref.is_alive()
    status = tree.board.status
    assert not status.running
    assert status.events[-1].kind == "escalated"
    assert "past the restart intensity" in status.last_error


def test_stop_ends_every_child_thread(tree_factory):
    before = set(threading.enumerate())
    tree = tree_factory()
    assert len(list(tree.ledger)) == 4
    tree.stop()
    assert set(threading.enumerate()) <= before


def test_restart_policy_counts_within_the_period_and_backs_off():
    policy = RestartPolicy(3, 10.0, base_s=0.01, cap_s=0.015, seed=7)
    assert policy.record(0.0) == 0.0  # the first restart of a burst is immediate
    second = policy.record(1.0)
    assert 0.005 <= second < 0.01  # base, scaled by a jitter in [0.5, 1)
    third = policy.record(2.0)
    assert 0.0075 <= third < 0.015  # 2 * base capped at 0.015, jittered
    assert policy.record(3.0) is None  # a fourth within 10 s escalates
    assert policy.recent(3.0) == 3
    assert policy.record(13.5) == 0.0  # the burst has left the period
    assert policy.restarts == 4


@pytest.mark.parametrize(("intensity", "period"), [(-1, 1.0), (1, 0.0)])
def test_restart_policy_refuses_bad_values(intensity, period):
    with pytest.raises(ValueError, match="is not accepted"):
        RestartPolicy(intensity, period)


def test_an_address_of_a_stopped_tree_reports_it():
    address = Address("x")
    assert address.tell(Echo("nobody")) is False
    with pytest.raises(pykka.ActorDeadError):
        address.ask(Echo("nobody"), timeout=0.1)
