"""Thin Celery tasks of the routing engine. All state lives in the database."""

from __future__ import annotations

from celery import shared_task

from routing import engine, timers


@shared_task(acks_late=True, ignore_result=True)
def advance_run(run_id: int) -> None:
    engine.advance(run_id)


@shared_task(ignore_result=True)
def fire_due_timers() -> int:
    """Beat runs this every second; short waits also schedule a wake-up at their due time."""
    total = 0
    while True:
        fired = timers.fire_due()
        total += fired
        if fired < timers.BATCH:
            return total
