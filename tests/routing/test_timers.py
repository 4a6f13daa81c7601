"""The timer poller: besides firing what is due, each beat tick schedules polls at the due times
of the timers falling due before the next tick, so a long wait fires on time, not a tick late."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from routing import tasks, timers
from routing.models import Run, Timer
from tests.routing.test_steps import start

NOW = dt.datetime(2026, 11, 30, 9, 0, 0, tzinfo=dt.UTC)


def waiting_run(api_channel, run_on_commit) -> Run:
    _conversation, run = start(api_channel, {"a": {"type": "wait", "seconds": 3600}}, run_on_commit)
    return run


def due_in(run: Run, *seconds: float) -> None:
    Timer.objects.filter(run=run).delete()
    for n, after in enumerate(seconds):
        Timer.objects.create(run=run, kind="wait", seq=100 + n, due_at=NOW + dt.timedelta(seconds=after))


def test_wake_ups_are_the_due_times_of_the_next_second_rounded_up_to_a_tenth(api_channel, run_on_commit):
    due_in(waiting_run(api_channel, run_on_commit), 0.25, 0.21, 0.3, 0.95, 1.0, 1.2, 30)

    wake_ups = timers.wake_up_times(1.0, now=NOW)

    assert [(at - NOW).total_seconds() for at in wake_ups] == [0.3, 1.0]


def test_a_beat_tick_schedules_those_polls_and_scheduled_polls_schedule_none(
    api_channel, run_on_commit, monkeypatch
):
    run = waiting_run(api_channel, run_on_commit)
    now = timezone.now()
    Timer.objects.filter(run=run).update(due_at=now + dt.timedelta(seconds=0.5))
    scheduled = []
    monkeypatch.setattr(tasks.fire_due_timers, "apply_async", lambda **kw: scheduled.append(kw["eta"]))

    tasks.fire_due_timers()
    assert scheduled == []

    tasks.fire_due_timers(look_ahead=1.0)
    assert len(scheduled) == 1
    assert dt.timedelta(0) <= scheduled[0] - Timer.objects.get(run=run).due_at < timers.WAKE_UP_STEP
