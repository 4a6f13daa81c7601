"""Durable timers: claim due rows once, whatever the number of workers, and wake their runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from routing.models import Run, Timer

BATCH = 500
# Polls scheduled ahead of the beat tick are rounded up to this, so a second holds at most ten.
WAKE_UP_STEP = timedelta(milliseconds=100)


def fire_due(*, limit: int = BATCH) -> int:
    """Fire up to ``limit`` due timers; returns how many fired.

    ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many pollers share the work on Postgres without
    waiting on each other; SQLite serialises writers, which gives the same once-only result.
    A timer whose run has moved on (other status or step) is cancelled instead of fired.
    """
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Timer.objects.pending()
            .filter(due_at__lte=now)
            .order_by("due_at")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not due:
            return 0
        runs = {
            run.pk: run
            for run in Run.objects.select_for_update(skip_locked=True).filter(pk__in={t.run_id for t in due})
        }
        fired, stale = [], []
        woken: list[Run] = []
        for timer in due:
            run = runs.get(timer.run_id)
            if run is None:
                continue  # locked by a worker advancing it right now: next poll
            if run.status not in Run.WAITING or run.seq != timer.seq:
                stale.append(timer.pk)
                continue
            run.state = {**run.state, "event": {"timer": timer.kind}}
            run.status = Run.Status.RUNNING
            run.updated_at = now
            fired.append(timer.pk)
            woken.append(run)
        _mark_running(woken, now)
        Timer.objects.filter(pk__in=fired).update(fired_at=now)
        Timer.objects.filter(pk__in=stale).update(cancelled_at=now)
        run_ids = [run.pk for run in woken]
        transaction.on_commit(lambda: _wake(run_ids))
    return len(fired)


def _mark_running(runs: list[Run], now) -> None:
    """Save the woken runs' state, status and updated_at in one round trip (executemany).

    A ``save()`` per run was a third of the poller's time; ``bulk_update``'s CASE expression
    costs even more Python. Caller holds the runs' row locks.
    """
    if not runs:
        return
    quote = connection.ops.quote_name
    fields = [Run._meta.get_field(name) for name in ("state", "status", "updated_at")]
    columns = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    # Identifiers come from the model, values are parameters.
    sql = f"UPDATE {quote(Run._meta.db_table)} SET {columns} WHERE {quote(Run._meta.pk.column)} = %s"  # noqa: S608
    updated_at = fields[2].get_db_prep_save(now, connection)
    status = fields[1].get_db_prep_save(Run.Status.RUNNING, connection)
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(fields[0].get_db_prep_save(run.state, connection), status, updated_at, run.pk) for run in runs]
        )


def _wake(run_ids: list[int]) -> None:
    """Enqueue ``advance_run`` for each woken run (after commit: the worker sees them running)."""
    from routing.tasks import advance_run

    for run_id in run_ids:
        advance_run.delay(run_id)


def wake_up_times(within: float, *, now: datetime | None = None, limit: int = 1000) -> list[datetime]:
    """When the timers falling due in the next ``within`` seconds are due, rounded up to
    ``WAKE_UP_STEP``: the beat tick schedules a poll at each, so that a timer fires at its due
    time rather than up to a tick late (one indexed query; at most ten polls per second)."""
    now = now or timezone.now()
    due = (
        Timer.objects.pending()
        .filter(due_at__gt=now, due_at__lte=now + timedelta(seconds=within))
        .order_by("due_at")
        .values_list("due_at", flat=True)[:limit]
    )
    step = WAKE_UP_STEP // timedelta(microseconds=1)
    return sorted({at + timedelta(microseconds=-(at.microsecond % step) % step) for at in due})
