"""Periodic jobs, each run once per tick across the whole cluster.

An app declares a job in its `tasks` module:

    @periodic(every=60, name="sweep-deadlines")
    def sweep_deadlines_job() -> str: ...

Every node runs `gridcity scheduler`. When a job's tick comes (ticks are aligned on multiples of
its interval since the epoch, so every node agrees which tick it is), each scheduler tries to
insert the row (job, tick); the unique constraint lets exactly one succeed, and that one enqueues
the run on the task queue in the same transaction. Any node's task worker then runs it. A node
that dies takes no tick with it: the others claim the next ones, and a run it had enqueued but
not started waits in the database for another worker.

A tick whose previous run has not finished is recorded as skipped rather than run alongside it;
a run that has been queued or running for longer than STALE_AFTER intervals (its worker was
killed) no longer holds the job back."""

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from gridcity.system.models import PeriodicRun, RunStatus

log = logging.getLogger("gridcity.scheduler")

PERIODIC_QUEUE = "periodic"
STALE_AFTER = 5  # intervals
STALE_MINIMUM = timedelta(minutes=2)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: float
    func: Callable[[], str]
    description: str
    priority: int = 0

    def tick_at(self, when: datetime) -> int:
        return int(when.timestamp() // self.every)

    def due_at(self, tick: int) -> datetime:
        return datetime.fromtimestamp(tick * self.every, tz=UTC)


_jobs: dict[str, PeriodicJob] = {}


def periodic(*, every: float, name: str, priority: int = 0) -> Callable:
    """Register `func` as a periodic job. GRIDCITY_PERIODIC_SECONDS = {name: seconds} changes the
    interval per city; 0 turns a job off. Of the runs waiting for the periodic worker, the
    highest priority goes first (-100 to 100): a deadline sweep before a recount."""

    def register(func: Callable[[], str]) -> Callable[[], str]:
        doc = (func.__doc__ or "").strip().splitlines()
        _jobs[name] = PeriodicJob(name, float(every), func, doc[0] if doc else "", priority)
        return func

    return register


def jobs() -> list[PeriodicJob]:
    """The registered jobs with their configured intervals, switched-off ones left out."""
    overrides = getattr(settings, "GRIDCITY_PERIODIC_SECONDS", {}) or {}
    out = []
    for job in sorted(_jobs.values(), key=lambda j: j.name):
        every = float(overrides.get(job.name, job.every))
        if every > 0:
            out.append(PeriodicJob(job.name, every, job.func, job.description, job.priority))
    return out


def job(name: str) -> PeriodicJob:
    return _jobs[name]


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _stale(run: PeriodicRun, every: float, now: datetime) -> bool:
    limit = max(timedelta(seconds=every * STALE_AFTER), STALE_MINIMUM)
    return now - (run.started_at or run.claimed_at) > limit


def claim(job: PeriodicJob, tick: int, *, by: str | None = None) -> PeriodicRun | None:
    """Claim one tick of one job for this scheduler and enqueue its run; None when another
    scheduler had it first."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = PeriodicRun.objects.create(
                job=job.name, tick=tick, due_at=job.due_at(tick), claimed_by=by or process_name()
            )
            previous = (
                PeriodicRun.objects.filter(
                    job=job.name,
                    tick__lt=tick,
                    status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                )
                .order_by("-tick")
                .first()
            )
            if previous is not None and not _stale(previous, job.every, now):
                run.status = RunStatus.SKIPPED
                run.outcome = f"#{previous.tick} 仍未完成"
            else:
                if previous is not None:
                    PeriodicRun.objects.filter(pk=previous.pk).update(
                        status=RunStatus.FAILED,
                        outcome=f"超时未完成（执行进程可能已退出），由 #{tick} 接替",
                        finished_at=now,
                    )
                result = run_periodic.using(priority=job.priority).enqueue(job.name, tick)
                run.task_id = str(result.id)
            run.save(update_fields=["status", "outcome", "task_id"])
            return run
    except IntegrityError:
        return None


def claim_due(now: datetime | None = None, *, seen: dict[str, int] | None = None) -> list:
    """One pass of the scheduler: claim every job whose current tick this process has not tried
    yet. `seen` remembers, per process, the last tick tried for each job."""
    now = now or timezone.now()
    seen = {} if seen is None else seen
    claimed = []
    for j in jobs():
        tick = j.tick_at(now)
        if seen.get(j.name) == tick:
            continue
        run = claim(j, tick)
        seen[j.name] = tick
        if run is not None:
            claimed.append(run)
    return claimed


def seconds_to_next_tick(now: datetime) -> float:
    ts = now.timestamp()
    waits = [j.every - (ts % j.every) for j in jobs()]
    return min(waits, default=60.0)


def run_job(name: str, tick: int) -> str:
    """Run one claimed tick (called by the task worker). Counts every start, so a tick run twice
    would show `runs` = 2."""
    PeriodicRun.objects.filter(job=name, tick=tick).update(
        runs=F("runs") + 1,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        ran_on=process_name(),
    )
    try:
        outcome = job(name).func() or ""
    except Exception as exc:
        log.exception("periodic job %s #%s failed", name, tick)
        PeriodicRun.objects.filter(job=name, tick=tick).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), outcome=repr(exc)[:2000]
        )
        raise
    log.info("%s #%s: %s", name, tick, outcome)
    PeriodicRun.objects.filter(job=name, tick=tick).update(
        status=RunStatus.DONE, finished_at=timezone.now(), outcome=str(outcome)[:2000]
    )
    return outcome


def run_forever(stop, *, poll_seconds: float = 1.0, out=None) -> None:
    """The scheduler's loop: claim what is due, sleep until the next tick (at most poll_seconds),
    until `stop` (a threading.Event) is set. A database that is down is waited for."""
    seen: dict[str, int] = {}
    while not stop.is_set():
        try:
            close_old_connections()
            for run in claim_due(seen=seen):
                if out is not None:
                    out(run)
        except Exception:  # the database went away: try again on the next pass
            log.exception("scheduler pass failed")
            seen.clear()
            close_old_connections()
        stop.wait(min(poll_seconds, seconds_to_next_tick(timezone.now()) + 0.01))


@task(queue_name=PERIODIC_QUEUE)
def run_periodic(job: str, tick: int) -> str:
    """The background task that runs one claimed tick (defined beside `claim`, which enqueues
    it, so the module needs nothing from `tasks`)."""
    return run_job(job, tick)
