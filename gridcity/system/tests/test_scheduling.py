"""Periodic jobs: one run per tick however many schedulers are up, run by the real task worker,
and the deadline sweep reaching a late case through them."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Channel, SupervisionOrder
from gridcity.system import scheduling
from gridcity.system.models import PeriodicRun, RunStatus
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

JOB_NAMES = {
    "sweep-deadlines",
    "sweep-ledger",
    "sweep-sensors",
    "purge-readings",
    "refresh-evaluation",
    "prune-history",
    "prune-orphan-files",
}


def run_worker(queue: str = "periodic") -> None:
    """What `gridcity db_worker --batch` does, minus its closing of connections, which would end
    the test's transaction."""
    worker = Worker(
        queue_names=[queue],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    while (result := DBTaskResult.objects.ready().filter(queue_name=queue).first()) is not None:
        result.claim(worker.worker_id)
        worker.run_task(result)


def test_every_app_registered_its_jobs():
    assert {j.name for j in scheduling.jobs()} == JOB_NAMES


def test_a_job_can_be_switched_off_or_slowed_per_city(settings):
    settings.GRIDCITY_PERIODIC_SECONDS = {"sweep-ledger": 0, "sweep-deadlines": 30}
    jobs = {j.name: j.every for j in scheduling.jobs()}
    assert "sweep-ledger" not in jobs and jobs["sweep-deadlines"] == 30


@pytest.mark.django_db
def test_two_schedulers_claim_each_tick_once_and_the_worker_runs_it_once():
    # Half a minute past a full hour: a minute later only the one-minute jobs have a new tick.
    now = timezone.now().replace(minute=0, second=30, microsecond=0)
    node1, node2 = {}, {}
    first = scheduling.claim_due(now, seen=node1)
    second = scheduling.claim_due(now, seen=node2)
    assert {r.job for r in first} == JOB_NAMES and second == []
    assert DBTaskResult.objects.count() == len(JOB_NAMES)
    # The same process does not even try the same tick twice.
    assert scheduling.claim_due(now + timedelta(seconds=1), seen=node1) == []

    run_worker()
    runs = PeriodicRun.objects.all()
    assert {(r.status, r.runs) for r in runs} == {(RunStatus.DONE, 1)}
    sweep = runs.get(job="sweep-deadlines")
    assert sweep.outcome.startswith("标记超期") and sweep.finished_at >= sweep.started_at

    # The next minute is a new tick for the one-minute jobs only.
    later = scheduling.claim_due(now + timedelta(seconds=61), seen=node2)
    assert {r.job for r in later} == {"sweep-deadlines", "sweep-sensors", "refresh-evaluation"}


@pytest.mark.django_db
def test_a_tick_is_skipped_while_the_previous_run_is_still_queued_until_it_is_stale():
    job = scheduling.job("sweep-deadlines")
    tick = job.tick_at(timezone.now())
    assert scheduling.claim(job, tick).status == RunStatus.QUEUED
    skipped = scheduling.claim(job, tick + 1)
    assert skipped.status == RunStatus.SKIPPED and f"#{tick}" in skipped.outcome
    # The worker that took run #tick was killed: after five intervals (at least two minutes)
    # it no longer blocks.
    PeriodicRun.objects.filter(tick=tick).update(
        status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=5, seconds=1)
    )
    taken_over = scheduling.claim(job, tick + 6)
    assert taken_over.status == RunStatus.QUEUED and taken_over.task_id
    stale = PeriodicRun.objects.get(job=job.name, tick=tick)
    assert stale.status == RunStatus.FAILED and f"#{tick + 6}" in stale.outcome


@pytest.mark.django_db
def test_a_failing_job_is_recorded_as_failed_and_the_next_tick_runs(monkeypatch):
    job = scheduling.job("sweep-sensors")

    def broken():
        raise RuntimeError("设备表不可用")

    monkeypatch.setitem(
        scheduling._jobs, job.name, scheduling.PeriodicJob(job.name, job.every, broken, "")
    )
    tick = job.tick_at(timezone.now())
    scheduling.claim(job, tick)
    run_worker()
    failed = PeriodicRun.objects.get(job=job.name, tick=tick)
    assert failed.status == RunStatus.FAILED and "设备表不可用" in failed.outcome
    assert scheduling.claim(job, tick + 1).status == RunStatus.QUEUED


@pytest.mark.django_db
def test_a_late_case_gets_its_supervision_order_through_the_scheduler(time_machine):
    time_machine.move_to(
        timezone.datetime(2026, 11, 24, 9, 0, tzinfo=timezone.get_current_timezone())
    )
    city = build_city()
    report = ReportInput(
        category=resolve_category("06042"),
        channel=Channel.INSPECTOR,
        lon=120.1630,
        lat=MID_LAT + 0.0012,
        description="垃圾桶满溢",
    )
    case = do_report_case(report, acting_user=city.people["inspector"]).case
    time_machine.move_to(timezone.now() + timedelta(hours=2))  # one working hour to sign
    scheduling.claim_due()
    run_worker()
    order = SupervisionOrder.objects.get(case=case)
    assert order.level == 1 and order.department.code == "HJWS"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_schedulers_racing_on_postgresql_claim_each_tick_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("a real race needs PostgreSQL's concurrent transactions")
    job = scheduling.job("sweep-deadlines")
    ticks = range(job.tick_at(timezone.now()), job.tick_at(timezone.now()) + 20)
    barrier = threading.Barrier(4)
    wins = []

    def scheduler(name):
        try:
            barrier.wait()
            for tick in ticks:
                if scheduling.claim(job, tick, by=name) is not None:
                    wins.append((tick, name))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler, args=(f"node{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(t for t, _ in wins) == list(ticks)
    assert PeriodicRun.objects.filter(job=job.name).count() == 20


@pytest.mark.django_db
def test_the_deadline_sweep_goes_before_the_evaluation_recount_in_the_queue():
    scheduling.claim_due(timezone.now().replace(minute=0, second=30, microsecond=0))
    first = DBTaskResult.objects.ready().filter(queue_name="periodic").first()
    assert first.args_kwargs["args"][0] == "sweep-deadlines"
    order = [r.args_kwargs["args"][0] for r in DBTaskResult.objects.ready()]
    assert order.index("sweep-deadlines") < order.index("refresh-evaluation")
