"""The job scheduler: cron and interval jobs, reconciled by job id.

One asyncio task per job (its *timer*) sleeps until the next fire time and then starts the run
as a separate task, so cancelling or replacing a timer (on reconcile or stop) never interrupts a
run in progress: runs always finish on the code they started with.

:meth:`Scheduler.reconcile` takes the whole desired set of jobs each time (after boot, after
every reload) and diffs it by id against what is scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from loader.core.awaitables import resolve
from loader.errors import DuplicateResourceError, ResourceValidationError
from loader.kinds.jobs import JobSpec, ScheduledJob, describe_schedule_problem
from loader.types import SourceLocation

__all__ = ["ScheduledJob", "next_fire_time", "ReconcileReport", "Scheduler"]


def next_fire_time(spec: JobSpec, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, as an aware UTC datetime.

    A cron string is read in ``spec.timezone``. Across a DST change a missing wall time fires
    at the first time after the gap, and a repeated wall time fires once (its first occurrence).

    Args:
        spec: The job's spec.
        after: An aware datetime.

    Raises:
        ValueError: ``after`` is naive, or the schedule or timezone is invalid.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"next_fire_time needs an aware datetime, got {after!r}")
    if not isinstance(spec.schedule, str):
        # The same checks as collecting the job: a spec made by hand (not through a file)
        # with an inf or 10**12 interval is a ValueError here, not an OverflowError in a timer.
        problem = describe_schedule_problem(spec.schedule)
        if problem:
            raise ValueError(problem)
    seconds = spec.interval_seconds
    if seconds is not None:
        return (after + timedelta(seconds=seconds)).astimezone(timezone.utc)
    if not isinstance(spec.schedule, str):
        raise ValueError(f"schedule {spec.schedule!r} is neither a cron string nor an interval")
    from croniter import croniter  # imported on first use, like loader.kinds.jobs does

    try:
        it = croniter(spec.schedule, after.astimezone(ZoneInfo(spec.timezone)))
        while True:
            fire: datetime = it.get_next(datetime)
            # croniter yields a repeated (fall-back) wall time twice; fold=1 marks the second.
            # Skip it when its first occurrence is already behind us.
            if fire.fold == 1 and fire.replace(fold=0).astimezone(timezone.utc) <= after:
                continue
            return fire.astimezone(timezone.utc)
    except Exception as exc:  # croniter's errors and ZoneInfoNotFoundError, as one type
        raise ValueError(f"cannot compute the next run of {spec.schedule!r} in {spec.timezone!r}: {exc}") from exc


@dataclass
class ReconcileReport:
    """What :meth:`Scheduler.reconcile` did, as sorted lists of job ids."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Entry:
    job: ScheduledJob
    next_run: datetime | None
    started: int = 0  # runs started; what number_of_executions limits (counts overlapping runs)
    runs: int = 0  # runs completed or failed
    timer: asyncio.Task[None] | None = None
    active: set[asyncio.Task[None]] = field(default_factory=set)


def _limit_reached(entry: _Entry) -> bool:
    limit = entry.job.spec.number_of_executions
    return limit is not None and entry.started >= limit


def _schedule_key(spec: JobSpec) -> tuple[object, str]:
    # 5, 5.0 and timedelta(seconds=5) are the same schedule; timezone only matters for cron.
    seconds = spec.interval_seconds
    return (seconds, "UTC") if seconds is not None else (spec.schedule, spec.timezone)


def _place(job: ScheduledJob) -> dict[str, Any]:
    """``path`` and ``line`` keywords for a LoaderError, from the job's ``"path:line"`` source."""
    if job.source is None:
        return {"path": None, "line": None}
    place = SourceLocation.parse(job.source)
    return {"path": place.path, "line": place.line}


class Scheduler:
    """Runs cron and interval jobs in the running event loop.

    Args:
        logger: Where runs, skips and failures are logged; ``loader.scheduler`` by default.
        now: The clock, returning an aware datetime; ``datetime.now(timezone.utc)`` by default.
    """

    def __init__(self, *, logger: logging.Logger | None = None, now: Callable[[], datetime] | None = None) -> None:
        self._logger = logger or logging.getLogger("loader.scheduler")
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._entries: dict[str, _Entry] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._running: set[asyncio.Task[None]] = set()  # every run in progress, removed jobs' too
        self._started = False

    def reconcile(self, jobs: Iterable[ScheduledJob]) -> ReconcileReport:
        """Make the scheduled jobs exactly ``jobs``, matched by id.

        A new id is scheduled from now; a missing id is unscheduled (a run in progress
        finishes on its old code); an id with the same schedule and timezone keeps its next run
        time and run count but runs the new ``run`` from its next tick; an id whose schedule
        changed is rescheduled from now. Before :meth:`start` this only records.

        Raises:
            DuplicateResourceError: Two jobs share an id.
            ResourceValidationError: A job's schedule or timezone is invalid.
            Either way nothing changed.
        """
        now = self._now()
        wanted: dict[str, ScheduledJob] = {}
        fresh: dict[str, datetime] = {}  # next run of added and rescheduled jobs
        for job in jobs:  # validate everything before changing anything
            if job.id in wanted:
                first, again = wanted[job.id].source or "<unknown>", job.source or "<unknown>"
                raise DuplicateResourceError(f"job id {job.id!r} is given twice (at {first} and {again})", **_place(job))
            wanted[job.id] = job
            old = self._entries.get(job.id)
            if old is None or _schedule_key(old.job.spec) != _schedule_key(job.spec):
                try:
                    fresh[job.id] = next_fire_time(job.spec, now)
                except ValueError as exc:
                    raise ResourceValidationError(f"job {job.name!r}: {exc}", **_place(job)) from exc

        report = ReconcileReport()
        for job_id in sorted(set(self._entries) - set(wanted)):
            self._cancel_timer(self._entries.pop(job_id))
            report.removed.append(job_id)
        for job_id in sorted(wanted):
            job, entry = wanted[job_id], self._entries.get(job_id)
            if entry is None:
                entry = self._entries[job_id] = _Entry(job, fresh[job_id])
                report.added.append(job_id)
            elif job_id in fresh:
                self._cancel_timer(entry)
                entry.job, entry.next_run = job, fresh[job_id]
                report.rescheduled.append(job_id)
            else:
                # The timer reads entry.job when it fires, so swapping it is enough.
                entry.job = job
                limit = job.spec.number_of_executions
                if entry.next_run is None and (limit is None or entry.started < limit):
                    entry.next_run = next_fire_time(job.spec, now)  # the limit was raised
                    report.rescheduled.append(job_id)
                else:
                    report.unchanged.append(job_id)
            if _limit_reached(entry):
                self._cancel_timer(entry)
                entry.next_run = None
            elif self._started and entry.timer is None and entry.next_run is not None:
                self._arm(entry)
        return report

    async def start(self) -> None:
        """Arm the timers of every scheduled job. Calling it again does nothing."""
        if self._started:
            return
        self._started = True
        for entry in self._entries.values():
            if entry.next_run is not None and entry.timer is None:
                self._arm(entry)

    async def stop(self, grace: float = 10.0) -> bool:
        """Stop starting runs at once, then wait up to ``grace`` seconds for runs in progress.

        Runs still going after ``grace`` are cancelled.

        Returns:
            True when every run finished within ``grace``.
        """
        self._started = False
        timers = list(self._timers)
        for entry in self._entries.values():
            self._cancel_timer(entry)
        if timers:
            await asyncio.wait(timers)
        running = set(self._running)
        if not running:
            return True
        _, pending = await asyncio.wait(running, timeout=grace)
        if not pending:
            return True
        self._logger.warning("cancelling %d job run(s) still going after %gs", len(pending), grace)
        for task in pending:
            task.cancel()
        # Bounded: a job that swallows the cancellation must not hang shutdown.
        await asyncio.wait(pending, timeout=1.0)
        return False

    def jobs(self) -> list[ScheduledJob]:
        """The jobs scheduled now, by id."""
        return [self._entries[job_id].job for job_id in sorted(self._entries)]

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next; None if unknown or finished (``number_of_executions`` reached)."""
        entry = self._entries.get(job_id)
        return entry.next_run if entry else None

    def runs(self, job_id: str) -> int:
        """Completed plus failed runs so far (0 for an unknown id)."""
        entry = self._entries.get(job_id)
        return entry.runs if entry else 0

    def finished(self, job_id: str) -> bool:
        """True when the job ran ``number_of_executions`` times and is scheduled no more."""
        entry = self._entries.get(job_id)
        return entry is not None and entry.next_run is None

    @property
    def running(self) -> int:
        """Runs in progress (including those of jobs removed meanwhile)."""
        return len(self._running)

    def __repr__(self) -> str:
        finished = sorted(job_id for job_id, e in self._entries.items() if e.next_run is None)
        state = "started" if self._started else "stopped"
        return f"<Scheduler {state} jobs={len(self._entries)} running={len(self._running)} finished={finished}>"

    # -- timers and runs -------------------------------------------------------------------

    def _arm(self, entry: _Entry) -> None:
        task = asyncio.create_task(self._timer(entry), name=f"loader-job-timer:{entry.job.id}")
        entry.timer = task
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def _cancel_timer(self, entry: _Entry) -> None:
        # Only the timer is cancelled: runs it already started go on.
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None

    async def _timer(self, entry: _Entry) -> None:
        while self._started and entry.next_run is not None:
            fire_at = entry.next_run
            # asyncio sleeps on the monotonic clock while fire times are wall-clock times:
            # re-read the clock after each wake-up and sleep again if it is still early.
            while (delay := (fire_at - self._now()).total_seconds()) > 0:
                await asyncio.sleep(delay)
            self._fire(entry)
            if _limit_reached(entry):
                entry.next_run = None
                self._logger.info("job %r started its %d run(s) (number_of_executions): no more are scheduled", entry.job.name, entry.started)
                break
            following = next_fire_time(entry.job.spec, fire_at)
            now = self._now()
            if following <= now:  # we were late (suspend, busy loop): skip the missed ticks
                following = next_fire_time(entry.job.spec, now)
            entry.next_run = following
        entry.timer = None

    def _fire(self, entry: _Entry) -> None:
        job = entry.job  # the code of this run is fixed now; a reload changes the next run only
        if job.spec.concurrency == "forbid" and entry.active:
            self._logger.info(
                "job %r [%s] (%s): previous run still going, tick skipped", job.name, job.id, job.source or "<unknown source>",
                extra={"job_id": job.id, "job": job.name},
            )
            return
        entry.started += 1
        task = asyncio.create_task(self._run(entry, job), name=f"loader-job:{job.id}")
        for group in (entry.active, self._running):
            group.add(task)
            task.add_done_callback(group.discard)

    async def _run(self, entry: _Entry, job: ScheduledJob) -> None:
        fields = {"job_id": job.id, "job": job.name}
        where = job.source or "<unknown source>"
        self._logger.debug("job %r [%s] (%s) started", job.name, job.id, where, extra=fields)
        started = time.perf_counter()
        try:
            await resolve(job.run())
        except asyncio.CancelledError:
            self._logger.warning("job %r [%s] (%s) cancelled", job.name, job.id, where, extra=fields)
            raise
        except Exception:
            self._logger.exception("job %r [%s] (%s) failed", job.name, job.id, where, extra=fields)
        else:
            took = (time.perf_counter() - started) * 1000
            self._logger.info(
                "job %r [%s] ran in %.1f ms", job.name, job.id, took, extra={**fields, "duration_ms": round(took, 3)},
            )
        entry.runs += 1
