"""The supervisor: restarts one-for-one, addresses that follow, escalation, no leaked thread.

Also the tell-versus-death race: a message told to a child as it dies (past
pykka's liveness check, enqueued after the dying actor drained its inbox)
reaches the next incarnation, forced with a reference whose liveness check
waits on an Event.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import pendulum
import pykka
import pytest

from preopen.actors import (
    Address,
    Board,
    ChildKey,
    ChildSpec,
    Outstanding,
    RestartPolicy,
    SupervisedActor,
    Supervisor,
    ThreadLedger,
)
from preopen.actors.messages import Children, ChildRestarted, OnFailure
from preopen.clock import SimulatedClock
from preopen.errors import EscalationError
from preopen.status import ErrorInfo

START = pendulum.datetime(2024, 11, 25, 8, 0, tz="America/New_York")
WAIT = 5.0


@dataclass(frozen=True)
class Boom:
    reason: str


@dataclass(frozen=True)
class Echo:
    text: str


@dataclass(frozen=True)
class WorkerWiring:
    probe: queue.Queue
    fail_start_generations: tuple[int, ...] = ()
    actors: dict = field(default_factory=dict)  # (name, generation) -> the actor object


class Worker(SupervisedActor[WorkerWiring]):
    """Echoes to a probe queue; raises on Boom; fails its start when told to."""

    def started(self):
        name, generation = self.context.key.name, self.context.generation
        self.wiring.actors[name, generation] = self
        if generation in self.wiring.fail_start_generations:
            raise RuntimeError(f"start failed in generation {generation}")
        self.wiring.probe.put(("started", name, generation))

    def handle(self, message):
        match message:
            case Boom(reason=reason):
                raise RuntimeError(reason)
            case Echo(text=text):
                self.wiring.probe.put(("echo", self.context.key.name, self.context.generation,
                                       text))
            case ChildRestarted() as restarted:
                self.wiring.probe.put(("restarted", restarted))


def ask(ref, message_with_reply):
    reply = Future()
    ref.tell(message_with_reply(reply))
    return reply.result(timeout=WAIT)


class Tree:
    def __init__(self, *, intensity=5, period_s=60.0, fail_start=()):
        self.probe: queue.Queue = queue.Queue()
        self.backlog: list = []
        self.ledger = ThreadLedger()
        self.board = Board()
        self.outstanding = Outstanding()
        self.a = Address(ChildKey("a"), self.outstanding)
        self.b = Address(ChildKey("b"), self.outstanding)
        self.watch = Address(ChildKey("watch"), self.outstanding)
        self.supervisor = Address(ChildKey("supervisor"), self.outstanding)
        self.actors: dict = {}
        self.escalated: queue.Queue = queue.Queue()
        specs = (
            ChildSpec(self.watch, Worker, WorkerWiring(self.probe, actors=self.actors)),
            ChildSpec(self.a, Worker, WorkerWiring(self.probe, fail_start, self.actors)),
            ChildSpec(self.b, Worker, WorkerWiring(self.probe, actors=self.actors)),
        )
        self.ref = Supervisor.start(
            self.supervisor, specs,
            policy=RestartPolicy(intensity, period_s, base_s=0.001, cap_s=0.002, seed=1),
            ledger=self.ledger, board=self.board, clock=SimulatedClock(START),
            notify=self.watch, on_escalate=lambda: self.escalated.put("hook"),
        )
        self.generations = ask(self.ref, Children)

    def next(self, kind):
        """The next probe item of ``kind``, in order; items of other kinds wait their turn."""
        for item in self.backlog:
            if item[0] == kind:
                self.backlog.remove(item)
                return item
        while True:
            item = self.probe.get(timeout=WAIT)
            if item[0] == kind:
                return item
            self.backlog.append(item)

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
    assert restarted == ChildRestarted(ChildKey("a"), 1, "RuntimeError: bad batch",
                                       ErrorInfo("RuntimeError", "bad batch", "a"))
    assert tree.a.ref is not old_a
    assert tree.b.ref is old_b  # one-for-one: the sibling is untouched
    assert ask(tree.ref, Children) == {"watch": 1, "a": 2, "b": 1}
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
    # An address still pointing at the dead reference: the message stays
    # outstanding, and the supervisor's next re-send delivers it.
    live = tree.a.ref
    tree.a.ref = dead
    assert tree.a.tell(Echo("late"))
    tree.a.ref = live
    assert tree.a.resend() == 1
    assert tree.next("echo") == ("echo", "a", 2, "late")


class GatedRef(pykka.ActorRef):
    """A reference whose liveness check, once armed, answers and then waits on an Event.

    pykka's ``tell`` is ``if not self.is_alive(): raise ActorDeadError`` then
    ``inbox.put``: holding the check's answer holds the tell between the two.
    """

    def __init__(self, actor):
        super().__init__(actor)
        self.checked = threading.Event()
        self.proceed = threading.Event()
        self.armed = True

    def is_alive(self):
        alive = super().is_alive()
        if self.armed:
            self.armed = False
            self.checked.set()
            assert self.proceed.wait(WAIT)
        return alive


def test_a_tell_racing_the_death_of_its_child_reaches_the_next_incarnation(tree_factory):
    tree = tree_factory()
    first = tree.actors["a", 1]
    real = tree.a.ref
    gated = GatedRef(first)
    tree.a.ref = gated  # what the address hands the sender: the incarnation alive now
    told = threading.Thread(target=lambda: tree.a.tell(Echo("raced")))
    told.start()
    assert gated.checked.wait(WAIT)  # the tell saw the child alive...
    real.tell(Boom("die"))  # ...and now the child dies, drains its inbox once, is replaced
    _, restarted = tree.next("restarted")
    assert restarted.child == ChildKey("a")
    assert not first.actor_ref.is_alive()
    # The message had not been handled: the supervisor re-sent it with the restart.
    assert tree.next("echo") == ("echo", "a", 2, "raced")
    gated.proceed.set()  # the tell goes on: into the dead incarnation's drained inbox
    told.join(WAIT)
    assert first.actor_inbox.qsize() == 1  # the interleaving happened: it sits there, unread
    tree.a.tell(Echo("after"))
    assert tree.next("echo") == ("echo", "a", 2, "after")  # handled once, not twice
    assert tree.outstanding.idle


def test_a_failed_start_is_noticed_and_restarted(tree_factory):
    tree = tree_factory(fail_start=(1,))
    _, restarted = tree.next("restarted")
    assert restarted.child.name == "a"
    assert "start failed in generation 1" in restarted.error
    tree.a.tell(Echo("up"))
    assert tree.next("echo") == ("echo", "a", 2, "up")


def test_restarts_past_the_intensity_escalate_and_stop_everything(tree_factory):
    tree = tree_factory(intensity=1, period_s=60.0)
    errors: queue.Queue = queue.Queue()
    ask(tree.ref, lambda reply: OnFailure(errors.put, reply))
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
    outstanding = Outstanding()
    address = Address(ChildKey("x"), outstanding)
    assert address.tell(Echo("nobody")) is False
    assert not address.is_alive()
    assert outstanding.idle  # nothing kept for an incarnation that will never come


def test_the_ledger_is_idle_only_when_everything_told_is_handled(tree_factory):
    tree = tree_factory()
    idle = Future()
    tree.a.tell(Echo("one"))
    tree.outstanding.when_idle(idle)
    assert tree.next("echo") == ("echo", "a", 1, "one")
    assert idle.result(timeout=WAIT) is None
    assert tree.outstanding.idle


def test_a_handled_message_is_not_kept_alive_by_its_envelope():
    # pykka's loop keeps the last envelope until the next message: the payload
    # must be gone once handled, or its freeing lands on the next message (the open).
    import weakref  # noqa: PLC0415

    from preopen.actors.child import ChildKey, Numbered, Outstanding, Role, receive  # noqa: PLC0415

    class Payload:
        pass

    outstanding = Outstanding()
    payload = Payload()
    gone = weakref.ref(payload)
    seq = outstanding.post(ChildKey(Role.SCHEDULER), payload)
    envelope = Numbered(seq, payload)
    del payload
    handled = []
    assert receive(outstanding, envelope, handled.append) == (seq, None)
    assert len(handled) == 1
    handled.clear()
    assert gone() is None  # the envelope, still held, no longer keeps it
    assert envelope.message is None
    assert outstanding.idle
