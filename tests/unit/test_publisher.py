"""The runtime's publisher: stages each frozen snapshot, makes it current once it is served."""

from __future__ import annotations

import datetime as dt
import queue
from pathlib import Path

import pytest

from preopen.actors.messages import Published, PublishFailed
from preopen.actors.scheduler import Publisher
from preopen.errors import PublishError
from preopen.model import Publication, Staged

WAIT = 10.0
D1, D2 = dt.date(2024, 7, 8), dt.date(2024, 7, 9)


class Snap:
    """What the publisher reads of a snapshot: its session."""

    def __init__(self, session: dt.date) -> None:
        self.session = session


class Files:
    """A fake publish directory: records stagings and flips; fails on request."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dt.date]] = []
        self.fail_stage = False
        self.fail_flip = False

    def stage(self, snapshot, directory) -> Staged:
        if self.fail_stage:
            raise PublishError(f"{directory}/.staging-x/1m.arrow", "No space left on device")
        self.log.append(("stage", snapshot.session))
        return Staged(Path(directory), f"n-{snapshot.session}", len(self.log), snapshot.session,
                      100, 0.5)

    def make_current(self, staged: Staged, keep: int) -> Publication:
        if self.fail_flip:
            raise PublishError(f"{staged.directory}/manifest.json", "Permission denied")
        self.log.append(("flip", staged.session))
        return Publication(staged.directory, staged.name, staged.sequence, staged.nbytes,
                           staged.seconds + 0.001, (), 0)


@pytest.fixture
def world():
    files = Files()
    outcomes: queue.Queue[object] = queue.Queue()
    made = []

    def make(serving=None):
        publisher = Publisher("/pub", 2, outcomes.put, serving=serving, stage=files.stage,
                              make_current=files.make_current)
        made.append(publisher)
        return publisher

    yield files, outcomes, make
    for publisher in made:
        assert publisher.close(timeout=WAIT)


def test_a_snapshot_is_staged_then_made_current_when_its_session_is_served(world):
    files, outcomes, make = world
    publisher = make(serving=None)
    publisher.submit(Snap(D1))
    staged = outcomes.get(timeout=WAIT)
    assert staged == Published(D1, f"n-{D1}", 100, 0.5, current=False)
    assert files.log == [("stage", D1)]
    publisher.serving(D1)
    current = outcomes.get(timeout=WAIT)
    assert isinstance(current, Published)
    assert (current.session, current.current) == (D1, True)
    assert files.log == [("stage", D1), ("flip", D1)]


def test_the_next_session_waits_for_its_open_and_a_follow_up_flips_at_once(world):
    files, outcomes, make = world
    publisher = make(serving=D1)  # D1 is served (a restart, or after the open)
    publisher.submit(Snap(D2))
    assert outcomes.get(timeout=WAIT).current is False
    publisher.submit(Snap(D1))  # a follow-up freeze of the served session
    assert outcomes.get(timeout=WAIT) == Published(D1, f"n-{D1}", 100, 0.5, current=False)
    flipped = outcomes.get(timeout=WAIT)
    assert (flipped.session, flipped.current) == (D1, True)
    assert files.log == [("stage", D2), ("stage", D1), ("flip", D1)]
    publisher.submit(Snap(D2))
    assert outcomes.get(timeout=WAIT).current is False
    publisher.serving(D2)
    assert outcomes.get(timeout=WAIT).current is True
    assert files.log[-2:] == [("stage", D2), ("flip", D2)]


def test_failures_are_reported_and_nothing_is_flipped_that_was_not_staged(world):
    files, outcomes, make = world
    publisher = make()
    files.fail_stage = True
    publisher.submit(Snap(D1))
    failed = outcomes.get(timeout=WAIT)
    assert isinstance(failed, PublishFailed)
    assert failed.session == D1
    assert failed.error == ("PublishError: couldn't publish the snapshot to "
                            "/pub/.staging-x/1m.arrow: No space left on device")
    files.fail_stage = False
    publisher.serving(D1)  # nothing staged: nothing to flip
    publisher.submit(Snap(D2))
    assert outcomes.get(timeout=WAIT).current is False
    files.fail_flip = True
    publisher.serving(D2)
    failed = outcomes.get(timeout=WAIT)
    assert isinstance(failed, PublishFailed)
    assert "manifest.json: Permission denied" in failed.error
    assert files.log == [("stage", D2)]
