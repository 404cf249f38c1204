"""The scheduler: fire times, limits, concurrency, failures, reconcile and stop.

Timing-based tests use short intervals and wait for a *condition* with a generous deadline;
they assert on counts and order, never on how long something took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from loader.errors import DuplicateResourceError, ResourceValidationError
from loader.kinds.jobs import JobSpec
from loader.runtime.scheduler import ScheduledJob, Scheduler, next_fire_time

UTC = timezone.utc
T0 = datetime(2025, 1, 1, 4, 0, tzinfo=UTC)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds (generous on purpose)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def make_job(
    run: Callable[[], Awaitable[Any]],
    schedule: str | float | timedelta = 0.03,
    *,
    id: str = "job:project:jobs/sync.py:sync",
    name: str = "sync",
    source: str | None = "src/jobs/sync.py:5",
    **spec: Any,
) -> ScheduledJob:
    return ScheduledJob(id=id, name=name, spec=JobSpec(name, schedule, **spec), run=run, source=source)


class Counter:
    """A job body that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


# -- next_fire_time ----------------------------------------------------------------------


def test_next_fire_time_cron_in_utc() -> None:
    spec = JobSpec("nightly", "0 3 * * *")
    assert next_fire_time(spec, T0) == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    assert next_fire_time(spec, T0).tzinfo is UTC


def test_next_fire_time_cron_reads_the_schedule_in_its_timezone() -> None:
    spec = JobSpec("nightly", "0 3 * * *", timezone="Europe/Paris")
    assert next_fire_time(spec, T0) == datetime(2025, 1, 2, 2, 0, tzinfo=UTC)  # CET = UTC+1
    summer = datetime(2025, 7, 1, 4, 0, tzinfo=UTC)
    assert next_fire_time(spec, summer) == datetime(2025, 7, 2, 1, 0, tzinfo=UTC)  # CEST = UTC+2


def test_next_fire_time_fires_a_repeated_wall_time_once() -> None:
    spec = JobSpec("nightly", "30 2 * * *", timezone="Europe/Paris")
    first = next_fire_time(spec, datetime(2025, 10, 25, 12, 0, tzinfo=UTC))
    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST, before falling back
    assert next_fire_time(spec, first) == datetime(2025, 10, 27, 1, 30, tzinfo=UTC)  # not 02:30 CET again


def test_next_fire_time_interval() -> None:
    paris = T0.astimezone(timezone(timedelta(hours=1)))
    assert next_fire_time(JobSpec("i", 90), T0) == T0 + timedelta(seconds=90)
    assert next_fire_time(JobSpec("i", timedelta(minutes=5)), paris) == T0 + timedelta(minutes=5)
    assert next_fire_time(JobSpec("i", 90), paris).tzinfo is UTC


def test_next_fire_time_rejects_naive_datetimes_and_bad_schedules() -> None:
    with pytest.raises(ValueError):
        next_fire_time(JobSpec("i", 5), datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        next_fire_time(JobSpec("c", "not a cron"), T0)
    with pytest.raises(ValueError):
        next_fire_time(JobSpec("c", "0 3 * * *", timezone="Mars/Olympus"), T0)
    for interval in (float("inf"), float("nan"), 10**12, 1e-9, True):  # a spec made by hand, not from a file
        with pytest.raises(ValueError):
            next_fire_time(JobSpec("i", interval), T0)


# -- running -----------------------------------------------------------------------------


def test_interval_job_runs_several_times() -> None:
    body = Counter()
    job = make_job(body, 0.03)

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([job])
        assert body.calls == 0
        await scheduler.start()
        await until(lambda: scheduler.runs(job.id) >= 3)
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert body.calls >= 3


def test_number_of_executions_stops_after_n_runs() -> None:
    body = Counter()
    job = make_job(body, 0.02, number_of_executions=2)

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: scheduler.runs(job.id) == 2 and scheduler.finished(job.id))
        await asyncio.sleep(0.15)  # several more intervals: nothing else runs
        assert scheduler.runs(job.id) == 2
        assert scheduler.next_run(job.id) is None
        assert "finished=['job:project:jobs/sync.py:sync']" in repr(scheduler)
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert body.calls == 2


def test_forbid_skips_ticks_while_the_previous_run_is_going(caplog: pytest.LogCaptureFixture) -> None:
    starts = 0

    async def main() -> None:
        gate = asyncio.Event()

        async def slow() -> None:
            nonlocal starts
            starts += 1
            await gate.wait()

        scheduler = Scheduler()
        job = make_job(slow, 0.02, concurrency="forbid")
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: sum("tick skipped" in r.getMessage() for r in caplog.records) >= 3)
        assert starts == 1 and scheduler.running == 1
        gate.set()
        await until(lambda: scheduler.runs(job.id) >= 2)  # after the slow run, ticks run again
        assert await scheduler.stop() is True

    with caplog.at_level(logging.INFO, logger="loader.scheduler"):
        asyncio.run(main())
    skipped = [r for r in caplog.records if "tick skipped" in r.getMessage()]
    assert skipped[0].levelno == logging.INFO and "'sync'" in skipped[0].getMessage()


def test_allow_lets_runs_overlap() -> None:
    concurrent = peak = 0

    async def main() -> None:
        nonlocal concurrent, peak
        gate = asyncio.Event()

        async def slow() -> None:
            nonlocal concurrent, peak
            concurrent += 1
            peak = max(peak, concurrent)
            await gate.wait()
            concurrent -= 1

        scheduler = Scheduler()
        scheduler.reconcile([make_job(slow, 0.02, concurrency="allow")])
        await scheduler.start()
        await until(lambda: peak >= 3)
        assert scheduler.running >= 3
        gate.set()
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert peak >= 3 and concurrent == 0


def test_a_failing_run_is_logged_counts_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("db down")

    job = make_job(broken, 0.02, name="nightly-sync", source="src/jobs/sync.py:12")

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: scheduler.runs(job.id) >= 3)
        assert scheduler.next_run(job.id) is not None
        assert await scheduler.stop() is True

    with caplog.at_level(logging.ERROR, logger="loader.scheduler"):
        asyncio.run(main())
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) >= 3
    assert "nightly-sync" in failures[0].getMessage() and "src/jobs/sync.py:12" in failures[0].getMessage()
    assert failures[0].exc_info is not None and "db down" in str(failures[0].exc_info[1])


# -- reconcile ---------------------------------------------------------------------------


def test_reconcile_by_id_before_start_with_a_fake_clock() -> None:
    clock = [T0]
    scheduler = Scheduler(now=lambda: clock[0])
    keep, change, drop = Counter(), Counter(), Counter()
    report = scheduler.reconcile(
        [
            make_job(keep, 60, id="keep", name="keep"),
            make_job(change, 60, id="change", name="change"),
            make_job(drop, "0 3 * * *", id="drop", name="drop"),
        ]
    )
    assert (report.added, report.removed, report.rescheduled, report.unchanged) == (["change", "drop", "keep"], [], [], [])
    assert scheduler.next_run("keep") == T0 + timedelta(seconds=60)
    assert scheduler.next_run("drop") == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)

    clock[0] = T0 + timedelta(seconds=30)
    report = scheduler.reconcile(
        [
            make_job(Counter(), 60.0, id="keep", name="keep"),  # same schedule (60 == 60.0), new code
            make_job(change, 120, id="change", name="change"),
            make_job(Counter(), 5, id="new", name="new"),
        ]
    )
    assert (report.added, report.removed, report.rescheduled, report.unchanged) == (["new"], ["drop"], ["change"], ["keep"])
    assert scheduler.next_run("keep") == T0 + timedelta(seconds=60)  # kept
    assert scheduler.next_run("change") == clock[0] + timedelta(seconds=120)  # from now
    assert scheduler.next_run("drop") is None and scheduler.runs("drop") == 0
    assert "jobs=3" in repr(scheduler) and "stopped" in repr(scheduler)


def test_a_timezone_change_reschedules_a_cron_job() -> None:
    scheduler = Scheduler(now=lambda: T0)
    scheduler.reconcile([make_job(Counter(), "0 3 * * *", id="n")])
    report = scheduler.reconcile([make_job(Counter(), "0 3 * * *", id="n", timezone="Europe/Paris")])
    assert report.rescheduled == ["n"]
    assert scheduler.next_run("n") == datetime(2025, 1, 2, 2, 0, tzinfo=UTC)


def test_reconcile_is_atomic_on_errors() -> None:
    scheduler = Scheduler(now=lambda: T0)
    scheduler.reconcile([make_job(Counter(), 60, id="a")])
    with pytest.raises(DuplicateResourceError) as dup:
        scheduler.reconcile([make_job(Counter(), 5, id="b", source="x.py:1"), make_job(Counter(), 5, id="b", source="y.py:2")])
    assert "x.py:1" in str(dup.value) and (dup.value.path, dup.value.line) == ("y.py", 2)
    with pytest.raises(ResourceValidationError) as bad:
        scheduler.reconcile([make_job(Counter(), "nope", id="c", source="src/jobs/c.py:3")])
    assert bad.value.location == "src/jobs/c.py:3"
    assert scheduler.next_run("a") == T0 + timedelta(seconds=60) and scheduler.next_run("b") is None


def test_reconcile_keeps_the_timer_and_swaps_the_callable() -> None:
    old, new = Counter(), Counter()

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([make_job(old, 0.03)])
        await scheduler.start()
        await until(lambda: old.calls >= 1)
        before_next, before_runs = scheduler.next_run(make_job(old).id), scheduler.runs(make_job(old).id)
        report = scheduler.reconcile([make_job(new, 0.03)])
        assert report.unchanged == [make_job(old).id]
        assert scheduler.next_run(make_job(old).id) == before_next
        assert scheduler.runs(make_job(old).id) == before_runs
        calls_then = old.calls
        await until(lambda: new.calls >= 2)
        assert old.calls == calls_then  # the old code never runs again
        assert await scheduler.stop() is True

    asyncio.run(main())


def test_reconcile_reschedules_a_changed_job_on_a_running_scheduler() -> None:
    fast, slow = Counter(), Counter()

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([make_job(fast, 3600)])
        await scheduler.start()
        report = scheduler.reconcile([make_job(slow, 0.02)])
        assert report.rescheduled == [make_job(fast).id]
        await until(lambda: slow.calls >= 2)
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert fast.calls == 0


def test_a_removed_job_finishes_its_run_in_progress_and_never_runs_again() -> None:
    log: list[str] = []

    async def main() -> None:
        gate = asyncio.Event()

        async def body() -> None:
            log.append("start")
            await gate.wait()
            log.append("end")

        scheduler = Scheduler()
        job = make_job(body, 0.02)
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: scheduler.running == 1)
        report = scheduler.reconcile([])
        assert report.removed == [job.id]
        assert scheduler.next_run(job.id) is None and scheduler.running == 1
        gate.set()
        await until(lambda: scheduler.running == 0)
        await asyncio.sleep(0.1)  # several former intervals
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert log == ["start", "end"]


def test_raising_the_limit_resumes_a_finished_job() -> None:
    body = Counter()

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([make_job(body, 0.02, number_of_executions=1)])
        await scheduler.start()
        await until(lambda: scheduler.finished(make_job(body).id) and scheduler.runs(make_job(body).id) == 1)
        report = scheduler.reconcile([make_job(body, 0.02, number_of_executions=3)])
        assert report.rescheduled == [make_job(body).id]
        await until(lambda: scheduler.runs(make_job(body).id) == 3 and scheduler.finished(make_job(body).id))
        assert await scheduler.stop() is True

    asyncio.run(main())
    assert body.calls == 3


# -- stop --------------------------------------------------------------------------------


def test_stop_waits_for_a_running_job() -> None:
    log: list[str] = []

    async def body() -> None:
        log.append("start")
        await asyncio.sleep(0.05)
        log.append("end")

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([make_job(body, 0.02)])
        await scheduler.start()
        await until(lambda: scheduler.running == 1)
        assert await scheduler.stop(grace=10) is True
        assert scheduler.running == 0
        count = len(log)
        await asyncio.sleep(0.1)
        assert len(log) == count  # nothing is armed after stop

    asyncio.run(main())
    assert log[-1] == "end" and log.count("start") == log.count("end")


def test_stop_cancels_a_run_that_exceeds_grace(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    async def forever() -> None:
        log.append("start")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    async def main() -> None:
        scheduler = Scheduler()
        job = make_job(forever, 0.02)
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: scheduler.running == 1)
        assert await scheduler.stop(grace=0.05) is False
        assert scheduler.running == 0
        assert scheduler.runs(job.id) == 0  # a cancelled run is neither completed nor failed

    with caplog.at_level(logging.WARNING, logger="loader.scheduler"):
        asyncio.run(main())
    assert log == ["start", "cancelled"]
    assert any("cancelled" in r.getMessage() and "src/jobs/sync.py:5" in r.getMessage() for r in caplog.records)


def test_stop_without_start_and_restart() -> None:
    body = Counter()

    async def main() -> None:
        scheduler = Scheduler()
        assert await scheduler.stop() is True
        scheduler.reconcile([make_job(body, 0.02)])
        await scheduler.start()
        await scheduler.start()  # idempotent
        await until(lambda: body.calls >= 1)
        assert await scheduler.stop() is True
        calls = body.calls
        await scheduler.start()
        await until(lambda: body.calls > calls)
        assert await scheduler.stop() is True

    asyncio.run(main())
