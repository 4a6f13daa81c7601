"""Durable timers: claim due rows once, whatever the number of workers, and wake their runs."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from routing.models import Run, Timer

BATCH = 500


def fire_due(*, limit: int = BATCH) -> int:
    """Fire up to ``limit`` due timers; returns how many fired.

    ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many pollers share the work on Postgres without
    waiting on each other; SQLite serialises writers, which gives the same once-only result.
    A timer whose run has moved on (other status or step) is cancelled instead of fired.
    """
    from routing.tasks import advance_run

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
        woken: list[int] = []
        for timer in due:
            run = runs.get(timer.run_id)
            if run is None:
                continue  # locked by a worker advancing it right now: next poll
            if run.status not in Run.WAITING or run.seq != timer.seq:
                stale.append(timer.pk)
                continue
            run.state = {**run.state, "event": {"timer": timer.kind}}
            run.status = Run.Status.RUNNING
            run.save(update_fields=["state", "status", "updated_at"])
            fired.append(timer.pk)
            woken.append(run.pk)
        Timer.objects.filter(pk__in=fired).update(fired_at=now)
        Timer.objects.filter(pk__in=stale).update(cancelled_at=now)
        for run_id in woken:
            transaction.on_commit(lambda run_id=run_id: advance_run.delay(run_id))
    return len(fired)
