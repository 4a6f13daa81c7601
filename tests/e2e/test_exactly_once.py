"""Exactly-once effects when workers crash and the broker repeats itself (GitHub issue 4).

With a real ``celery -A helpdesk worker`` (prefork, embedded beat), a real broker, a real
database and a real HTTP receiver for webhooks:

* a worker SIGKILLed while it advances a long run leaves the run where its last committed
  step put it; a new worker finishes it, and every customer-visible effect happens once;
* a pending ``wait`` timer survives the death of the worker, and fires once after a restart,
  whether the broker redelivers the dead worker's wake-up or lost it (the beat poller fires it);
* an ``advance_run`` task delivered twice at the same moment, and a timer fired by several
  pollers at once, still give one effect and one log row per step.

The crash tests pause the session worker (remote control ``cancel_consumer``) and start workers
of their own, so that the worker they kill is the one that took the run.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest
from django.db import connections
from django.utils import timezone

from inbox.models import Assignment, Delivery, Message
from routing.models import Run, RunLog, Timer
from tests.e2e import HelpdeskApi, wait_for, webhook_receiver
from tests.e2e.conftest import (
    WorkerProcess,
    kill_worker,
    launch_worker,
    pause_consuming,
    purge_broker,
    redeliver_unacked,
    resume_consuming,
    worker_hostname,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADVANCE = "routing.tasks.advance_run"
FIRE_TIMERS = "routing.tasks.fire_due_timers"
REQUEUE_STALLED = "routing.tasks.requeue_stalled_runs"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


@pytest.fixture
def hook():
    """A real HTTP server on localhost standing in for the integrator's webhook endpoint."""
    with webhook_receiver() as (url, received):
        yield f"{url}/hook", received


@pytest.fixture
def celery_app():
    from helpdesk.celery import app

    return app


@pytest.fixture
def own_workers(celery_worker_process: WorkerProcess, celery_app, tmp_path: Path):
    """Start workers of this test's own (same database and broker as the session worker).

    The session worker stops consuming for the test's duration, so the task under test goes to a
    worker this test controls; it consumes again afterwards. Logs of these workers are printed
    at teardown (shown by pytest when the test failed).
    """
    session_host = worker_hostname(celery_worker_process)
    pause_consuming(celery_app, session_host)
    started: list[WorkerProcess] = []

    def start(*, concurrency: int = 2) -> WorkerProcess:
        worker = launch_worker(
            dict(celery_worker_process.env),
            tmp_path / f"worker-{len(started) + 1}",
            name=f"e2e-own{len(started) + 1}",
            concurrency=concurrency,
        )
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for number, worker in enumerate(started, 1):
            worker.stop()
            print(f"----- log of own worker {number} -----\n{worker.log_text()[-15000:]}")
        resume_consuming(celery_app, session_host)


# --- helpers ----------------------------------------------------------------------------------


def fresh() -> None:
    """Close idle connections so the next query sees what the worker committed."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def long_workflow(name: str, sections: int) -> tuple[dict, dict[str, list[str]]]:
    """``sections`` × (send_message, add_comment, assign round robin): 3 × sections steps in a row.

    Returns the definition and the step ids by type.
    """
    steps: dict[str, dict] = {}
    kinds: dict[str, list[str]] = {"send_message": [], "add_comment": [], "assign": []}
    order: list[str] = []
    for i in range(sections):
        for kind, step_id, config in (
            ("send_message", f"msg{i}", {"text": f"message {i}"}),
            ("add_comment", f"note{i}", {"text": f"note {i}"}),
            ("assign", f"assign{i}", {"team": "Support", "strategy": "round_robin"}),
        ):
            steps[step_id] = {"type": kind, **config}
            kinds[kind].append(step_id)
            order.append(step_id)
    for here, there in itertools.pairwise(order):
        steps[here]["next"] = there
    return {"name": name, "trigger": {"type": "conversation_opened"}, "start": order[0], "steps": steps}, kinds


def advances_done(worker: WorkerProcess, since: int = 0) -> int:
    """How many advance_run tasks the worker finished (its log says so for each)."""
    return len(re.findall(rf"Task {re.escape(ADVANCE)}\[[^\]]+\] succeeded", worker.log_text(since)))


def set_up_cast(api: HelpdeskApi, webhook_url: str) -> dict:
    api.create_team("Support")
    api.create_agent("sue", ["Support"])
    api.create_agent("sam", ["Support"])
    return api.create_channel("Shop", webhook_url=webhook_url)


def run_of(conversation_id: int) -> Run:
    fresh()
    return Run.objects.get(conversation_id=conversation_id)


def wait_until_delivered(conversation_id: int, count: int, received: list, timeout: float = 60) -> None:
    def done() -> bool:
        fresh()
        deliveries = Delivery.objects.filter(message__conversation_id=conversation_id)
        delivered = deliveries.filter(status=Delivery.Status.DELIVERED).count()
        if delivered > count or len(received) > count:
            pytest.fail(f"{delivered} deliveries done and {len(received)} POSTs received for {count} messages")
        assert delivered == count, f"{delivered}/{count} deliveries done, {len(received)} POSTs received"
        return True

    wait_for(done, timeout=timeout, what=f"{count} webhook deliveries")


def assert_each_effect_once(conversation_id: int, kinds: dict[str, list[str]], received: list) -> None:
    """One outgoing message, comment, Assignment row and webhook POST per step; one log row per step."""
    fresh()
    run = Run.objects.get(conversation_id=conversation_id)
    assert run.status == Run.Status.COMPLETED, (run.status, run.error)

    outgoing = list(
        Message.objects.filter(conversation_id=conversation_id, direction="outgoing").values_list("text", flat=True)
    )
    assert sorted(Counter(outgoing).items()) == sorted(
        Counter(f"message {s.removeprefix('msg')}" for s in kinds["send_message"]).items()
    )
    comments = list(
        Message.objects.filter(conversation_id=conversation_id, direction="comment").values_list("text", flat=True)
    )
    assert sorted(Counter(comments).items()) == sorted(
        Counter(f"note {s.removeprefix('note')}" for s in kinds["add_comment"]).items()
    )
    assignments = list(
        Assignment.objects.filter(conversation_id=conversation_id).values_list("idempotency_key", flat=True)
    )
    assert len(assignments) == len(kinds["assign"]), assignments
    assert len(set(assignments)) == len(assignments)

    log = list(RunLog.objects.filter(run=run).order_by("seq", "id").values_list("seq", "step", "outcome"))
    seqs = [seq for seq, _step, _outcome in log]
    assert len(seqs) == len(set(seqs)), f"a step was logged twice: {Counter(seqs).most_common(3)}"
    steps = [step for _seq, step, _outcome in log if step]
    expected = [s for i in range(len(kinds["assign"])) for s in (f"msg{i}", f"note{i}", f"assign{i}")]
    # Every step once, in order, then the end line of the last step.
    assert steps == [*expected, expected[-1]], steps
    assert [o for _s, step, o in log if step and o != "end"] == ["success"] * len(expected)

    # The webhook: one POST per outgoing message, each with its own delivery id.
    message_ids = set(
        Message.objects.filter(conversation_id=conversation_id, direction="outgoing").values_list("pk", flat=True)
    )
    bodies = [json.loads(body) for _headers, body in received if json.loads(body)["conversation"] == conversation_id]
    assert len(bodies) == len(message_ids), f"{len(bodies)} POSTs for {len(message_ids)} outgoing messages"
    assert {b["message"]["id"] for b in bodies} == message_ids
    assert len({b["delivery"] for b in bodies}) == len(bodies)


# --- (a) a worker killed mid-run --------------------------------------------------------------


def test_a_worker_killed_mid_run_leaves_each_effect_once(api, hook, own_workers, celery_app):
    """SIGKILL the worker (its whole process group) right after it started advancing a 60-step run.

    The advance task was acked late, so Redis still holds it (redelivered as after the visibility
    timeout); the beat's stalled-run sweep also requeues the run. Both reach a new worker at once.
    """
    url, received = hook
    # One pool process: the run holds it, so no webhook POST is in flight when the worker dies
    # (a POST cut off between sending and recording would be sent again: at least once, by design).
    first = own_workers(concurrency=1)
    channel = set_up_cast(api, url)
    definition, kinds = long_workflow("Long run", sections=20)
    total_steps = 3 * 20
    api.publish(api.create_workflow(definition)["id"])

    conversation_id = api.incoming(channel["id"], {"external_id": "kill-1", "name": "Ana"}, "Hi")["conversation"]

    # Kill as soon as the worker has committed a few steps: it is inside advance_run.
    deadline = time.monotonic() + 30
    while True:
        fresh()
        logged = RunLog.objects.filter(run__conversation_id=conversation_id).count()
        if logged >= 6:
            kill_worker(first)
            break
        assert time.monotonic() < deadline, f"the worker did not start the run:\n{first.log_text()[-5000:]}"
        time.sleep(0.005)
    assert f"Task {ADVANCE}[" in first.log_text(), "the killed worker had not received the advance task"

    run = run_of(conversation_id)
    done_at_kill = RunLog.objects.filter(run=run).count()
    assert run.status == Run.Status.RUNNING and done_at_kill < total_steps + 2, (
        f"the run was not mid-way when the worker died ({done_at_kill} log rows, status {run.status})"
    )
    time.sleep(1)  # nothing advances the run while no worker runs
    assert RunLog.objects.filter(run=run).count() == done_at_kill

    redelivered = redeliver_unacked(celery_app)  # Redis: the killed worker's unacked advance_run
    second = own_workers(concurrency=2)
    celery_app.send_task(REQUEUE_STALLED, kwargs={"older_than_seconds": 0})  # the beat's sweep, without the 30 s

    api.wait_for_run(conversation_id, "completed", timeout=60)
    wait_until_delivered(conversation_id, len(kinds["send_message"]), received)
    time.sleep(1)  # a late duplicate would show now
    assert_each_effect_once(conversation_id, kinds, received)
    assert advances_done(second) >= 1, "the new worker never advanced the run"
    print(f"killed after {done_at_kill} log rows; {redelivered} unacked message(s) redelivered")


@pytest.mark.parametrize("broker", ["redelivers the wake-up", "lost the wake-up"])
def test_a_pending_wait_survives_a_killed_worker_and_fires_once(api, hook, own_workers, celery_app, broker):
    url, received = hook
    first = own_workers(concurrency=1)
    channel = set_up_cast(api, url)
    workflow = api.create_workflow(
        {
            "name": "Wait then route",
            "trigger": {"type": "conversation_opened"},
            "start": "before",
            "steps": {
                "before": {"type": "send_message", "text": "One moment please.", "next": "pause"},
                "pause": {"type": "wait", "seconds": 3, "next": "route"},
                "route": {"type": "assign", "team": "Support", "next": "after"},
                "after": {"type": "send_message", "text": "You are with Support."},
            },
        }
    )
    api.publish(workflow["id"])

    conversation_id = api.incoming(channel["id"], {"external_id": "wait-1"}, "Hi")["conversation"]
    api.wait_for_run(conversation_id, "waiting_timer", timeout=20)
    kill_worker(first)  # it held the timer's wake-up (a countdown task)

    if broker == "lost the wake-up":
        purge_broker(celery_app)  # the queue and, on Redis, the dead worker's unacked messages
    else:
        redeliver_unacked(celery_app)
    timer = Timer.objects.get(run__conversation_id=conversation_id)
    # Past the due time with no worker: nothing fires it.
    time.sleep(max(0.0, (timer.due_at - timezone.now()).total_seconds()) + 1)
    fresh()
    timer.refresh_from_db()
    assert timer.fired_at is None, "no worker ran, yet the timer fired"
    assert run_of(conversation_id).status == Run.Status.WAITING_TIMER

    own_workers(concurrency=2)  # its beat ticks every second; the poller fires the due timer

    run = api.wait_for_run(conversation_id, "completed", timeout=30)
    wait_until_delivered(conversation_id, 2, received)
    time.sleep(1.5)  # more beat ticks: a second firing would show now
    fresh()
    assert api.outgoing(conversation_id) == ["One moment please.", "You are with Support."]
    assert [e["outcome"] for e in run["log"] if e["step"] == "pause"] == ["waiting", "success"]
    assert Assignment.objects.filter(conversation_id=conversation_id).count() == 1
    (timer,) = Timer.objects.filter(run__conversation_id=conversation_id)
    assert timer.fired_at is not None and timer.cancelled_at is None
    assert len(received) == 2
    seqs = list(RunLog.objects.filter(run__conversation_id=conversation_id).values_list("seq", flat=True))
    assert len(seqs) == len(set(seqs))


# --- (b) the broker delivers twice ------------------------------------------------------------


def start_run_without_task(api: HelpdeskApi, channel_id: int, external_id: str) -> int:
    """Open a conversation whose run is runnable but whose advance task was never sent."""
    with mock.patch("routing.tasks.advance_run.delay"):
        conversation_id = api.incoming(channel_id, {"external_id": external_id}, "Hi")["conversation"]
    run = run_of(conversation_id)
    assert run.status == Run.Status.RUNNING and RunLog.objects.filter(run=run).count() == 1
    return conversation_id


def test_advance_run_delivered_twice_at_once_runs_each_step_once(api, hook, celery_worker_process, celery_app):
    url, received = hook
    channel = set_up_cast(api, url)
    definition, kinds = long_workflow("Twice", sections=10)
    api.publish(api.create_workflow(definition)["id"])
    conversation_id = start_run_without_task(api, channel["id"], "dup-1")
    run_id = run_of(conversation_id).pk
    log_from = celery_worker_process.log_size()

    # The same task twice by name through the broker, and twice more through the task object:
    # the worker's two pool processes take them at the same moment.
    from routing.tasks import advance_run

    celery_app.send_task(ADVANCE, args=[run_id])
    celery_app.send_task(ADVANCE, args=[run_id])
    advance_run.delay(run_id)
    advance_run.delay(run_id)

    api.wait_for_run(conversation_id, "completed", timeout=60)
    wait_until_delivered(conversation_id, len(kinds["send_message"]), received)
    time.sleep(1)
    assert_each_effect_once(conversation_id, kinds, received)
    assert advances_done(celery_worker_process, log_from) >= 4, "the worker did not run the four deliveries"


def test_a_timer_fired_by_several_pollers_at_once_fires_once(api, hook, celery_worker_process, celery_app):
    url, received = hook
    channel = set_up_cast(api, url)
    workflow = api.create_workflow(
        {
            "name": "Wait",
            "trigger": {"type": "conversation_opened"},
            "start": "before",
            "steps": {
                "before": {"type": "send_message", "text": "One moment please.", "next": "pause"},
                "pause": {"type": "wait", "seconds": 2, "next": "route"},
                "route": {"type": "assign", "team": "Support", "next": "after"},
                "after": {"type": "send_message", "text": "You are with Support."},
            },
        }
    )
    api.publish(workflow["id"])
    conversation_id = api.incoming(channel["id"], {"external_id": "timer-1"}, "Hi")["conversation"]
    api.wait_for_run(conversation_id, "waiting_timer")
    timer = Timer.objects.get(run__conversation_id=conversation_id)

    # At the due time, besides the worker's own wake-up and the beat's tick: the beat task four
    # times through the broker, and the poller itself in two threads of this process.
    from routing import timers

    time.sleep(max(0.0, (timer.due_at - timezone.now()).total_seconds()))
    for _ in range(4):
        celery_app.send_task(FIRE_TIMERS)
    fired: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def poll() -> None:
        try:
            barrier.wait()
            fired.append(timers.fire_due())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    # And the woken run's advance task, delivered twice more.
    celery_app.send_task(ADVANCE, args=[timer.run_id])
    celery_app.send_task(ADVANCE, args=[timer.run_id])

    run = api.wait_for_run(conversation_id, "completed", timeout=30)
    wait_until_delivered(conversation_id, 2, received)
    time.sleep(1.5)
    fresh()
    assert api.outgoing(conversation_id) == ["One moment please.", "You are with Support."]
    assert [(e["step"], e["outcome"]) for e in run["log"] if e["step"]] == [
        ("before", "success"),
        ("pause", "waiting"),
        ("pause", "success"),
        ("route", "success"),
        ("after", "success"),
        ("after", "end"),
    ]
    assert Assignment.objects.filter(conversation_id=conversation_id).count() == 1
    (timer,) = Timer.objects.filter(run__conversation_id=conversation_id)
    assert timer.fired_at is not None
    assert len(received) == 2
    assert sum(fired) <= 1
