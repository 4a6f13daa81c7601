"""How soon a conversation waiting in a team's queue is handed out once an agent can take it.

Prints figures; asserts nothing. A real ``celery -A helpdesk worker`` (no beat: the 10-second
sweep must not be what is measured) runs on a throw-away copy of the database named by
DATABASE_URL and on the broker of CELERY_BROKER_URL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/queue_drain.py

Each round: the team's only agent is at capacity and a conversation waits in the queue; the
agent closes one conversation (``inbox.services.close_conversation``, as the inbox does), whose
commit enqueues the drain; the clock stops when the waiting conversation has its assignee in the
database. A second series measures an agent coming online (``set_availability``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from inbox import services as inbox  # noqa: E402
from inbox.models import Agent, Conversation, Team  # noqa: E402
from tests.factories import AgentFactory, ConversationFactory, UserFactory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
TIMEOUT = 15.0


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    netloc = f"{quote(db.get('USER') or '', safe='')}@{db.get('HOST') or ''}"
    if db.get("PORT"):
        netloc += f":{db['PORT']}"
    return f"postgres://{netloc}/{db['NAME']}"


def start_worker(directory: Path) -> subprocess.Popen:
    # Same broker as this process (with the default filesystem broker: the folders under
    # HELPDESK_VAR_DIR, so give the bench its own when a `make run` worker is going).
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "-m", "celery", "-A", "helpdesk", "worker", "--loglevel", "warning",
               "--pool", "threads", "--concurrency", "2", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "--hostname", "bench-queue@%h"]  # fmt: skip
    log = (directory / "worker.log").open("wb")
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    from helpdesk.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited; see {directory / 'worker.log'}")
    raise SystemExit("the worker did not answer a ping within 60 s")


def wait_assigned(conversation: Conversation, started: float) -> float:
    while time.monotonic() - started < TIMEOUT:
        if Conversation.objects.filter(pk=conversation.pk, assignee__isnull=False).exists():
            return time.monotonic() - started
        time.sleep(0.005)
    raise RuntimeError(f"conversation {conversation.pk} was not handed out within {TIMEOUT:g} s")


def capacity_freed(team: Team, agent: Agent, rounds: int) -> list[float]:
    """The agent (capacity 1) closes the conversation they hold; the one waiting becomes theirs."""
    held = ConversationFactory()
    assert inbox.assign(held, agent=agent, team=team).assigned
    latencies = []
    for _ in range(rounds):
        waiting = ConversationFactory()
        assert inbox.assign(waiting, team=team, online_only=True).queued
        started = time.monotonic()
        inbox.close_conversation(held)
        latencies.append(wait_assigned(waiting, started))
        held = waiting
    inbox.close_conversation(held)
    return latencies


def came_online(team: Team, agent: Agent) -> float:
    inbox.set_availability(agent, "away")
    waiting = ConversationFactory()
    assert inbox.assign(waiting, team=team, online_only=True).queued
    started = time.monotonic()
    inbox.set_availability(agent, "online")
    latency = wait_assigned(waiting, started)
    inbox.close_conversation(waiting)
    return latency


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{name:<34} p50 {statistics.median(ordered) * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
        f"max {ordered[-1] * 1000:6.0f} ms   ({len(ordered)} rounds)"
    )


def main() -> None:
    from helpdesk.celery import app

    print(f"database: {connection.vendor}, broker: {app.conf.broker_url.split('://')[0]}, rounds: {ROUNDS}")
    config = setup_databases(verbosity=0, interactive=False)
    with tempfile.TemporaryDirectory() as tmp:
        worker = start_worker(Path(tmp))
        try:
            team = Team.objects.create(name="Queue bench")
            agent = AgentFactory(user=UserFactory(username="queue-bench"), teams=[team], max_open=1)
            capacity = capacity_freed(team, agent, ROUNDS)
            Agent.objects.filter(pk=agent.pk).update(max_open=None)
            online = [came_online(team, agent) for _ in range(ROUNDS)]
            report("queued → assigned, capacity freed", capacity)
            report("queued → assigned, agent online", online)
        except RuntimeError as exc:
            print(exc, "; the worker's log:", (Path(tmp) / "worker.log").read_text()[-3000:], sep="\n")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            teardown_databases(config, verbosity=0)


if __name__ == "__main__":
    main()
