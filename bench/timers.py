"""Durable timers: how late due timers fire, and how many fire per second, with 100,000 pending.

Prints figures; asserts nothing. Run against PostgreSQL (a throw-away test database is
created and dropped) with the broker the deployment uses:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/timers.py

Set-up: ``BENCH_PENDING`` (100,000) pending ``wait`` timers, each with its waiting run
(bulk_create), due in 1 to 30 days. Then, with all of those still pending:

* **trickle**: ``BENCH_TRICKLE`` (2,000) more timers due over the next ``BENCH_TRICKLE_SECONDS``
  (10) seconds, fired by the real poller (``routing.tasks.fire_due_timers``: ``routing.timers.fire_due``
  until a batch comes back short) on a one-second tick, as beat runs it; then with the polls
  each tick schedules at the due times of the next second (``fire_due_timers(look_ahead=1)``,
  rounded up to 0.1 s: what a wait of any length gets); then with a poller call at each due time
  (the countdown wake-up ``engine.schedule_timer`` sends for waits of up to 300 s). Lateness is
  (time the poller's transaction committed and the runs' ``advance_run`` tasks were sent) − due_at;
  the stored ``fired_at`` (the poll's start) is shown too.
* **burst**: ``BENCH_BURST`` (10,000) timers all due now; the poller is called once, the way one
  beat tick would, and the throughput is timers fired per second of that call.

``BENCH_TICK`` replaces the beat period of the settings (1 s) for the tick-only trickle, to see
what a shorter tick would give.

The woken runs' ``advance_run`` tasks are really published to the broker, on a private queue
that is deleted at the end (no worker runs them: the poller is what is measured).
"""

from __future__ import annotations

import bisect
import os
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from contacts.models import Contact  # noqa: E402
from helpdesk.celery import app  # noqa: E402
from inbox.models import Channel, Conversation  # noqa: E402
from routing import services as routing  # noqa: E402
from routing import timers  # noqa: E402
from routing.models import Run, Timer  # noqa: E402

# The beat tick of the timers (CELERY_BEAT_SCHEDULE); BENCH_TICK tries another period.
TICK = float(os.environ.get("BENCH_TICK") or settings.CELERY_BEAT_SCHEDULE["fire-due-timers"]["schedule"])

PENDING = int(os.environ.get("BENCH_PENDING", "100000"))
TRICKLE = int(os.environ.get("BENCH_TRICKLE", "2000"))
TRICKLE_SECONDS = float(os.environ.get("BENCH_TRICKLE_SECONDS", "10"))
BURST = int(os.environ.get("BENCH_BURST", "10000"))
QUEUE = "bench-timers"
CHUNK = 5000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


class Fixture:
    """One workflow version and conversation to hang the waiting runs on."""

    def __init__(self) -> None:
        workflow = routing.create_workflow(
            {
                "name": "Bench wait",
                "trigger": {"type": "conversation_opened"},
                "start": "pause",
                "steps": {
                    "pause": {"type": "wait", "seconds": 60, "next": "done"},
                    "done": {"type": "add_comment", "text": "waited"},
                },
            }
        )
        self.version = routing.publish(workflow)
        channel = Channel.objects.create(name="bench-timers")
        contacts = Contact.objects.bulk_create([Contact(external_id=f"bench-{i}") for i in range(100)])
        self.conversations = Conversation.objects.bulk_create(
            [Conversation(contact=c, channel=channel) for c in contacts]
        )

    def add_timers(self, due: list) -> None:
        """Waiting runs with one pending wait timer each, due at ``due``."""
        for start in range(0, len(due), CHUNK):
            part = due[start : start + CHUNK]
            runs = Run.objects.bulk_create(
                [
                    Run(
                        workflow_id=self.version.workflow_id,
                        version=self.version,
                        conversation=self.conversations[i % len(self.conversations)],
                        current_step="pause",
                        status=Run.Status.WAITING_TIMER,
                        seq=1,
                    )
                    for i in range(len(part))
                ]
            )
            Timer.objects.bulk_create(
                [Timer(run=run, kind=Timer.Kind.WAIT, seq=1, due_at=at) for run, at in zip(runs, part, strict=True)]
            )


def explain_due_query() -> str:
    query = (
        Timer.objects.pending()
        .filter(due_at__lte=timezone.now())
        .order_by("due_at")
        .select_for_update(skip_locked=True)[: timers.BATCH]
    )
    if connection.vendor != "postgresql":
        return "(EXPLAIN shown on PostgreSQL only)"
    from django.db import transaction

    with transaction.atomic():
        return query.explain(analyze=True, buffers=True)


_serial = threading.Lock()  # one poller call at a time, so each timer is credited to the call that fired it


def tick(calls: list[tuple]) -> int:
    """One beat tick: routing.tasks.fire_due_timers, timed call by call (fire_due until a short batch)."""
    total = 0
    while True:
        with _serial:
            before = timezone.now()
            fired = timers.fire_due()
            calls.append((before, time.time(), fired))
        total += fired
        if fired < timers.BATCH:
            return total


def lateness(since, calls: list[tuple]) -> tuple[list[float], list[float]]:
    """(commit lateness, stored fired_at lateness) in seconds, of timers due after ``since``.

    fire_due stamps its timers with its own "now", taken just after the call's ``before``: the
    call that fired a timer is the last one that started before its stamp.
    """
    calls = sorted(calls)
    starts = [before for before, _returned, _fired in calls]
    committed, stored = [], []
    rows = Timer.objects.filter(fired_at__isnull=False, due_at__gte=since).values_list("due_at", "fired_at")
    for due_at, fired_at in rows:
        stored.append((fired_at - due_at).total_seconds())
        returned = calls[bisect.bisect_right(starts, fired_at) - 1][1]
        committed.append(returned - due_at.timestamp())
    return committed, stored


def poll_at(at, calls: list[tuple]) -> threading.Timer:
    """A poll at ``at``, as the worker runs a ``fire_due_timers`` task sent with that ETA."""

    def poll() -> None:
        try:
            tick(calls)
        finally:
            connections.close_all()

    timer = threading.Timer(max(0.0, at.timestamp() - time.time()), poll)
    timer.start()
    return timer


def trickle(fixture: Fixture, *, wakeups: bool, look_ahead: bool = False) -> dict:
    """Timers due over the next seconds, fired by the 1 s beat tick, and with ``wakeups`` also by a
    poller call at each due time, as the countdown task of ``engine.schedule_timer`` does for waits
    of up to 300 s (here in a thread of this process instead of a worker)."""
    start = timezone.now() + timedelta(seconds=1)
    due = sorted(start + timedelta(seconds=random.uniform(0, TRICKLE_SECONDS)) for _ in range(TRICKLE))
    fixture.add_timers(due)
    calls: list[tuple] = []
    end = due[-1].timestamp() + TICK + 0.5

    def wake_up() -> None:
        try:
            for at in due:
                delay = at.timestamp() - time.time()
                if delay > 0:
                    time.sleep(delay)
                    tick(calls)
                # a timer already past due was fired by the previous wake-up's call (or the tick)
        finally:
            connections.close_all()

    thread = threading.Thread(target=wake_up) if wakeups else None
    if thread:
        thread.start()
    next_tick = time.time()
    scheduled: list[threading.Timer] = []
    while time.time() < end:
        tick(calls)
        if look_ahead:  # what routing.tasks.fire_due_timers(look_ahead=TICK) schedules
            scheduled += [poll_at(at, calls) for at in timers.wake_up_times(TICK)]
        next_tick += TICK
        time.sleep(max(0.0, next_tick - time.time()))
    if thread:
        thread.join()
    for poll in scheduled:
        poll.join()
    committed, stored = lateness(start, calls)
    busy = [r - b.timestamp() for b, r, f in calls if f]
    return {
        "fired": len(committed),
        "committed": committed,
        "stored": stored,
        "call_ms": statistics.median(busy) * 1000 if busy else 0.0,
    }


def burst(fixture: Fixture) -> dict:
    now = timezone.now()
    fixture.add_timers([now - timedelta(milliseconds=random.uniform(0, 100)) for _ in range(BURST)])
    calls: list[tuple] = []
    started = time.perf_counter()
    fired = tick(calls)
    elapsed = time.perf_counter() - started
    committed, _stored = lateness(now - timedelta(seconds=1), calls)
    return {"fired": fired, "seconds": elapsed, "rate": fired / elapsed, "committed": committed}


def main() -> None:
    app.conf.task_routes = {"routing.tasks.advance_run": {"queue": QUEUE}}
    broker = app.conf.broker_url.split("://")[0]
    print(
        f"database: {connection.vendor}, broker: {broker}, pending timers: {PENDING:,}, "
        f"batch {timers.BATCH}, beat tick {TICK:g} s"
    )
    config = setup_databases(verbosity=0, interactive=False)
    try:
        fixture = Fixture()
        started = time.perf_counter()
        now = timezone.now()
        fixture.add_timers([now + timedelta(days=1, seconds=random.uniform(0, 29 * 86400)) for _ in range(PENDING)])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"set-up: {PENDING:,} runs and timers in {time.perf_counter() - started:.1f} s")
        print("\nEXPLAIN ANALYZE of the poller's due query (nothing due yet):")
        print("  " + explain_due_query().replace("\n", "\n  "))

        t = trickle(fixture, wakeups=False)
        a = trickle(fixture, wakeups=False, look_ahead=True)
        w = trickle(fixture, wakeups=True)
        b = burst(fixture)
        pending = Timer.objects.pending().count()

        def row(name: str, fired: int, late: list[float], rate: str = "") -> None:
            p50, p99 = percentile(late, 50), percentile(late, 99)
            print(f"{name:<52} {fired:>7,} {p50:>8.3f}s {p99:>8.3f}s {max(late):>8.3f}s {rate:>10}")

        print(
            f"\n{'scenario (lateness = wake-up sent − due_at)':<52} {'fired':>7} "
            f"{'p50':>9} {'p99':>9} {'max':>9} {'rate':>10}"
        )
        row(f"trickle, beat tick every {TICK:g} s only", t["fired"], t["committed"])
        row("trickle, tick only, stored fired_at − due_at", t["fired"], t["stored"])
        row("trickle, beat tick scheduling polls at due times", a["fired"], a["committed"])
        row("trickle, beat tick + wake-up at due time", w["fired"], w["committed"])
        row(f"burst: {BURST:,} due at once, one beat tick", b["fired"], b["committed"], f"{b['rate']:,.0f}/s")
        print(
            f"\nmedian fire_due call with work: {t['call_ms']:.0f} ms (tick only), {w['call_ms']:.0f} ms (with "
            f"wake-ups); burst took {b['seconds']:.2f} s; still pending afterwards: {pending:,}"
        )
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(QUEUE)  # the wake-ups nobody will run
            conn.default_channel.queue_delete(QUEUE)
        teardown_databases(config, verbosity=0)


if __name__ == "__main__":
    main()
