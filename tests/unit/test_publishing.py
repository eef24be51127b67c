"""Where the planner's frozen snapshots go besides the swap: on_frozen, the publisher."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

from support.week import at

from preopen.planning import Journal, Publishing
from preopen.status import EventKind, RuntimeStatus

DAY = dt.date(2024, 11, 27)
NOW = at(DAY, "08:40")


def frozen(day=DAY):
    """A stand-in snapshot: the publishing only reads its session."""
    return SimpleNamespace(session=day)


def events(journal, kind):
    return [e for e in journal.view(None, None, dt.timedelta(hours=1), None).events
            if e.kind is kind]


def test_only_the_newest_frozen_snapshot_waits_for_the_publisher():
    publishing = Publishing(Journal(RuntimeStatus()), publish=True)
    first, second = frozen(), frozen()
    publishing.frozen(first, NOW)
    assert publishing.to_publish == [first]
    publishing.frozen(second, NOW)
    assert publishing.to_publish == [second]
    queue = publishing.to_publish
    publishing.to_publish.clear()  # what the scheduler does once it handed them over
    publishing.frozen(first, NOW)
    assert queue == [first]  # one list, kept: the scheduler may hold on to it


def test_nothing_waits_for_a_publisher_without_publish_dir():
    publishing = Publishing(Journal(RuntimeStatus()), publish=False)
    publishing.frozen(frozen(), NOW)
    assert publishing.to_publish == []


def test_on_frozen_gets_each_snapshot_and_its_failure_is_recorded_not_raised(caplog):
    seen = []
    journal = Journal(RuntimeStatus())
    Publishing(journal, publish=False, on_frozen=seen.append).frozen(snapshot := frozen(), NOW)
    assert seen == [snapshot]

    def broken(_snapshot):
        raise RuntimeError("hub down")

    with caplog.at_level(logging.ERROR, logger="preopen"):
        Publishing(journal, publish=True, on_frozen=broken).frozen(frozen(), NOW)
    [error] = events(journal, EventKind.ERROR)
    assert (error.session, error.at) == (DAY, NOW)
    assert error.detail == "the on_frozen callback failed: RuntimeError('hub down')"
    assert journal.status.last_error == error.detail
    assert [r.getMessage() for r in caplog.records] == [
        "the on_frozen callback failed for 2024-11-27"]


def test_the_publisher_s_reports_are_counted_with_an_event():
    journal = Journal(RuntimeStatus(last_error="a load failed"))
    publishing = Publishing(journal, publish=True)
    publishing.published(DAY, "2024-11-27.1", 4096, 0.0123, NOW, current=False)
    assert journal.status.snapshots_published == 0  # staged: not current yet
    publishing.published(DAY, "2024-11-27.1", 4096, 0.0125, NOW)
    publishing.published(DAY, "2024-11-27.2", 8192, 0.5, NOW)
    assert journal.status.snapshots_published == 2
    assert [e.detail for e in events(journal, EventKind.PUBLISHED)] == [
        "2024-11-27.1: 4096 bytes staged in 0.012 sec, current at the open",
        "2024-11-27.1: current", "2024-11-27.2: current"]
    publishing.failed(DAY, "OSError: disk full", NOW)
    assert journal.status.publish_failures == 1
    [failed] = events(journal, EventKind.PUBLISH_FAILED)
    assert (failed.session, failed.detail) == (DAY, "OSError: disk full")
    assert journal.status.last_error == "a load failed"  # the load's, not the publisher's


def test_the_counters_carry_over_a_restart():
    journal = Journal(RuntimeStatus(snapshots_published=3, publish_failures=1))
    publishing = Publishing(journal, publish=True)
    publishing.published(DAY, "x", 1, 0.0, NOW)
    publishing.failed(DAY, "e", NOW)
    assert (journal.status.snapshots_published, journal.status.publish_failures) == (4, 2)
