"""Thin Celery tasks of the routing engine. All state lives in the database."""

from __future__ import annotations

from celery import shared_task

from routing import engine, timers


@shared_task(acks_late=True, ignore_result=True)
def advance_run(run_id: int) -> None:
    engine.advance(run_id)


@shared_task(ignore_result=True)
def fire_due_timers(look_ahead: float = 0) -> int:
    """Fire what is due. Beat runs this every second with ``look_ahead`` = the tick, which also
    schedules a poll at the due time of each timer falling due before the next tick; short waits
    schedule their own wake-up too. Scheduled polls do not look ahead, so they never multiply."""
    total = 0
    while True:
        fired = timers.fire_due()
        total += fired
        if fired < timers.BATCH:
            break
    if look_ahead:
        for eta in timers.wake_up_times(look_ahead):
            fire_due_timers.apply_async(eta=eta)
    return total


@shared_task(ignore_result=True)
def requeue_stalled_runs(older_than_seconds: int = 30) -> int:
    """Runs left "running" with no task (a lost broker message, a killed worker) get a new one.

    So do runs left "waiting_http" past their request's lease (a worker died mid-request): the
    engine sends the request again. Advancing is idempotent under the run lock, and an HTTP
    answer is applied only once (seq guard), so a run that was merely slow is not harmed.
    """
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from routing.models import Run

    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    http_cutoff = now - max(engine.http_lease(), timedelta(seconds=older_than_seconds))
    stalled = list(
        Run.objects.filter(
            Q(status=Run.Status.RUNNING, updated_at__lt=cutoff)
            | Q(status=Run.Status.WAITING_HTTP, updated_at__lt=http_cutoff)
        ).values_list("pk", flat=True)[:500]
    )
    for run_id in stalled:
        advance_run.delay(run_id)
    return len(stalled)
