"""Scheduled jobs: functions marked with ``@job`` in ``jobs/``.

Example (``sample_project/src/jobs/nightly_sync.py``)::

    @job(name="nightly-sync", schedule="0 3 * * *")
    async def nightly_sync(container): ...

``schedule`` is a cron string (five fields, checked with croniter) or an interval in seconds,
from :data:`MIN_INTERVAL_SECONDS` (1 ms) to :data:`MAX_INTERVAL_SECONDS` (5 years).
Job names are unique within an origin; the job's id (its owner key) includes the origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import math
from datetime import timedelta
from types import ModuleType
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loader.core.awaitables import resolve
from loader.errors import LoaderError
from loader.kinds.base import BaseBinding, BaseKind, KindChange, Runtime, defined_in, line_of
from loader.types import Resource, SourceFile

__all__ = ["JobSpec", "job", "JobKind", "JobBinding", "ScheduledJob", "scheduled_job", "JOB_ATTR", "describe_schedule_problem",
           "MIN_INTERVAL_SECONDS", "MAX_INTERVAL_SECONDS"]

JOB_ATTR = "__loader_job__"
F = TypeVar("F", bound=Callable[..., Any])

# Below 1 ms a timer loop starves the event loop (1e-9 pinned a core and ignored SIGTERM); above
# ~5 years the next fire time leaves what datetime can hold (10**12 crashed `loader start`).
MIN_INTERVAL_SECONDS = 0.001
MAX_INTERVAL_SECONDS = 5 * 366 * 86400


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What ``@job`` attached to a function (validated when the file is collected)."""

    name: str
    schedule: str | float | timedelta
    number_of_executions: int | None = None
    concurrency: Literal["forbid", "allow"] = "forbid"
    timezone: str = "UTC"

    @property
    def interval_seconds(self) -> float | None:
        if isinstance(self.schedule, timedelta):
            return self.schedule.total_seconds()
        if isinstance(self.schedule, (int, float)) and not isinstance(self.schedule, bool):
            return float(self.schedule)
        return None


def job(
    *,
    name: str,
    schedule: str | float | timedelta,
    number_of_executions: int | None = None,
    concurrency: Literal["forbid", "allow"] = "forbid",
    timezone: str = "UTC",
) -> Callable[[F], F]:
    """Mark ``async def fn(container)`` as a scheduled job.

    Args:
        name: Unique within its origin (the project or one plugin).
        schedule: A cron string (``"0 3 * * *"``) or an interval in seconds (or a timedelta).
        number_of_executions: Stop after this many runs; forever when None.
        concurrency: ``"forbid"`` skips a tick while the previous run still goes on.
        timezone: The zone the cron string is read in.
    """

    def mark(func: F) -> F:
        setattr(func, JOB_ATTR, JobSpec(name, schedule, number_of_executions, concurrency, timezone))
        return func

    return mark


def describe_schedule_problem(schedule: object) -> str | None:
    """Why a schedule is invalid, or None when it is fine."""
    if isinstance(schedule, bool):
        return f"schedule {schedule!r} is neither a cron string nor an interval"
    if isinstance(schedule, (int, float, timedelta)):
        return _interval_problem(schedule)
    if not isinstance(schedule, str):
        return f"schedule {schedule!r} is neither a cron string nor an interval in seconds"
    from croniter import croniter  # imported on first use: it adds ~15 ms to `import loader`

    fields = schedule.split()
    if len(fields) != 5 or not croniter.is_valid(schedule):
        return (
            f"bad cron string {schedule!r}: expected 5 fields "
            "'minute hour day-of-month month day-of-week' such as '0 3 * * *', or an interval in seconds"
        )
    return None


def _interval_problem(schedule: int | float | timedelta) -> str | None:
    # An int is compared as an int: float(10**400) would itself raise OverflowError.
    seconds = schedule.total_seconds() if isinstance(schedule, timedelta) else schedule
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return f"interval {schedule!r} is not a finite number of seconds"
    if seconds <= 0:
        return f"interval {schedule!r} must be more than 0 seconds"
    if seconds < MIN_INTERVAL_SECONDS:
        return f"interval {schedule!r} is below the minimum of {MIN_INTERVAL_SECONDS:g} s (1 ms)"
    if seconds > MAX_INTERVAL_SECONDS:
        return f"interval {schedule!r} is above the maximum of {MAX_INTERVAL_SECONDS} s (5 years); use a cron string for rare jobs"
    return None


def _is_timezone(name: object) -> bool:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return isinstance(name, str)


@dataclass(frozen=True)
class ScheduledJob:
    """A job as the scheduler runs it.

    Attributes:
        id: Stable id (the owner key as a string); what reconcile matches on.
        name: The job name, for logs.
        spec: What ``@job`` declared.
        run: The job body, already bound to its container by the caller.
        source: ``"path:line"`` of the job, for logs and errors.
    """

    id: str
    name: str
    spec: JobSpec
    run: Callable[[], Awaitable[Any]]
    source: str | None = None


def scheduled_job(resource: Resource, runtime: Runtime) -> ScheduledJob:
    """The scheduler's view of a job resource, bound to the container; id = owner key."""
    fn, container = resource.obj, runtime.container

    async def run() -> Any:
        return await resolve(fn(container))

    owner = ":".join(resource.owner_key[1:])
    return ScheduledJob(id=owner, name=resource.id, spec=resource.meta["spec"], run=run, source=str(resource.location))


class JobBinding(BaseBinding):
    """Jobs → the scheduler, reconciled by id (a job that did not change keeps its next run).

    Only a process that runs jobs (``worker_mode`` shared or worker) schedules them.
    """

    kinds = frozenset({"job"})

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        if runtime.runs_jobs:
            runtime.scheduler.reconcile(scheduled_job(r, runtime) for r in change.snapshot.of("job"))


class JobKind(BaseKind):
    name = "job"
    folder = "jobs"
    binding = JobBinding()

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        resources = []
        for export, func in defined_in(module, lambda o: callable(o) and hasattr(o, JOB_ATTR)):
            spec: JobSpec = getattr(func, JOB_ATTR)
            line = line_of(func)
            if not isinstance(spec.name, str) or not spec.name:
                raise self.invalid(source, line, f"job {export}() needs a name: @job(name=\"nightly-sync\", schedule=...)")
            problem = describe_schedule_problem(spec.schedule)
            if problem:
                raise self.invalid(source, line, f"job {spec.name!r}: {problem}")
            if spec.concurrency not in ("forbid", "allow"):
                raise self.invalid(source, line, f"job {spec.name!r}: concurrency {spec.concurrency!r}; expected 'forbid' or 'allow'")
            if not _is_timezone(spec.timezone):
                raise self.invalid(source, line, f"job {spec.name!r}: unknown timezone {spec.timezone!r}; expected an IANA name such as 'UTC' or 'Europe/Paris'")
            runs = spec.number_of_executions
            if runs is not None and (not isinstance(runs, int) or isinstance(runs, bool) or runs < 1):
                raise self.invalid(source, line, f"job {spec.name!r}: number_of_executions {runs!r}; expected a positive integer or None")
            schedule = spec.schedule if isinstance(spec.schedule, str) else f"every {spec.interval_seconds:g}s"
            resources.append(self.resource(source, spec.name, func, export, line, schedule=schedule, spec=spec))
        return resources

    def conflict_key(self, resource: Resource) -> object:
        # Names are unique within an origin; two plugins may both have a "cleanup" job.
        return (str(resource.origin), resource.id)
