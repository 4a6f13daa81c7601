"""Fair assignment under concurrency: 2 OS processes × 4 threads route into one team at once.

Each thread has its own database connection, and the second process is a real separate
``python`` process on the same (committed, hence ``transaction=True``) test database, as two
workers of a deployment are. They all call the real ``inbox.services.assign``.

After the storm: no conversation was assigned twice, each has an assignee (or, past the team's
capacity, waits in its queue), nobody is over capacity, and the open counts of the eligible
agents differ by at most one.

``FAIRNESS_CONVERSATIONS`` (default 2,000) sets the number of conversations per case.
PostgreSQL only: SQLite serialises all writers, so there would be no race to observe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count

from contacts.models import Contact
from inbox import services as inbox
from inbox.models import Agent, Assignment, Channel, Conversation, Team

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="fairness under concurrent row locks needs PostgreSQL (SQLite serialises every writer)",
    ),
]

BASE_DIR = Path(__file__).resolve().parents[2]
CONVERSATIONS = int(os.environ.get("FAIRNESS_CONVERSATIONS", "2000"))
PROCESSES, THREADS = 2, 4

# What the second process runs: the same routing function, on the ids given in argv.
CHILD = """
import sys

import django

django.setup()

from tests.concurrency.test_fairness import route_in_threads

team_id, strategy, online_only = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
ids = [int(i) for i in sys.argv[4].split(",")]
print("ready", flush=True)
sys.stdin.readline()  # "go": every process starts at once
errors = route_in_threads(team_id, strategy, online_only, ids)
for error in errors:
    print(f"error: {error!r}", flush=True)
sys.exit(1 if errors else 0)
"""


def route_in_threads(team_id: int, strategy: str, online_only: bool, ids: list[int]) -> list[BaseException]:
    """Assign the conversations ``ids`` to the team from THREADS threads, each its own connection."""
    team = Team.objects.get(pk=team_id)
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(mine: list[int]) -> None:
        try:
            barrier.wait()
            for pk in mine:
                inbox.assign(Conversation(pk=pk), team=team, strategy=strategy, online_only=online_only)
        except BaseException as exc:  # reported, not lost in a thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(ids[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def database_url() -> str:
    from tests.e2e.conftest import worker_database_url

    return worker_database_url()


def storm(team: Team, strategy: str, *, online_only: bool, ids: list[int]) -> float:
    """Route ``ids`` from this process and a second one, 4 threads each; returns the seconds it took."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "helpdesk.settings"),
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])),
        "LOG_LEVEL": "WARNING",
    }
    theirs, mine = ids[1::PROCESSES], ids[0::PROCESSES]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(team.pk), strategy, "1" if online_only else "0", ",".join(map(str, theirs))],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready", child.stdout.read()
        connections.close_all()  # the threads below open their own connections
        started = time.perf_counter()
        child.stdin.write("go\n")
        child.stdin.flush()
        errors = route_in_threads(team.pk, strategy, online_only, mine)
        output, _ = child.communicate(timeout=300)
        elapsed = time.perf_counter() - started
    finally:
        if child.poll() is None:
            child.kill()
    assert errors == [], errors
    assert child.returncode == 0, f"the second process failed:\n{output}"
    return elapsed


def make_team(name: str, online: int, *, offline: int = 1, max_open: int | None = None) -> tuple[Team, list[Agent]]:
    team = Team.objects.create(name=name)
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"{name.lower()}-{i}") for i in range(online + offline)])
    agents = Agent.objects.bulk_create(
        [
            Agent(user=u, availability="online" if i < online else "offline", max_open=max_open)
            for i, u in enumerate(users)
        ]
    )
    team.agents.add(*agents)
    return team, agents[:online]


def open_conversations(count: int, tag: str) -> list[int]:
    channel = Channel.objects.create(name=f"fair-{tag}")
    contacts = Contact.objects.bulk_create([Contact(external_id=f"{tag}-{i}") for i in range(count)])
    conversations = Conversation.objects.bulk_create([Conversation(contact=c, channel=channel) for c in contacts])
    return [c.pk for c in conversations]


def assert_assigned_once(ids: list[int]) -> None:
    per_conversation = Assignment.objects.filter(conversation_id__in=ids).values("conversation").annotate(n=Count("id"))
    counts = {row["conversation"]: row["n"] for row in per_conversation}
    assert len(counts) == len(ids), f"{len(ids) - len(counts)} conversations have no Assignment row"
    twice = {pk: n for pk, n in counts.items() if n != 1}
    assert not twice, f"assigned more than once: {list(twice.items())[:10]}"


def assert_open_counts_true(team: Team) -> None:
    """Each agent's open_count (kept with F() updates) equals the conversations it really has."""
    real = dict(
        Conversation.objects.filter(status="open", assignee__isnull=False)
        .values_list("assignee")
        .annotate(n=Count("id"))
        .values_list("assignee", "n")
    )
    for agent in Agent.objects.filter(teams=team):
        assert agent.open_count == real.get(agent.pk, 0), (agent.username, agent.open_count, real.get(agent.pk, 0))


@pytest.mark.parametrize("strategy", [inbox.Strategy.ROUND_ROBIN, inbox.Strategy.LEAST_OPEN])
def test_concurrent_routing_into_one_team_is_fair_and_once(strategy):
    team, online = make_team(f"Fair-{strategy}", online=7, offline=1)  # 2,000 / 7: uneven on purpose
    ids = open_conversations(CONVERSATIONS, strategy)

    elapsed = storm(team, strategy, online_only=True, ids=ids)

    assert_assigned_once(ids)
    assert not Conversation.objects.filter(pk__in=ids, assignee__isnull=True).exists()
    assert Conversation.objects.filter(pk__in=ids, team=team).count() == len(ids)
    counts = sorted(Agent.objects.filter(pk__in=[a.pk for a in online]).values_list("open_count", flat=True))
    assert sum(counts) == len(ids)
    assert counts[-1] - counts[0] <= 1, f"open-count spread {counts[-1] - counts[0]}: {counts}"
    offline = Agent.objects.filter(teams=team, availability="offline")
    assert [a.open_count for a in offline] == [0], "online_only gave work to an offline agent"
    assert_open_counts_true(team)
    print(
        f"\n{strategy}: {len(ids)} conversations, {PROCESSES} processes × {THREADS} threads, "
        f"{elapsed:.1f} s ({len(ids) / elapsed:.0f} assignments/s); open counts {counts[0]}..{counts[-1]}"
    )


def test_concurrent_routing_past_capacity_queues_the_rest():
    capacity_each, agents = 15, 8
    team, online = make_team("Full", online=agents, offline=1, max_open=capacity_each)
    capacity = capacity_each * agents
    ids = open_conversations(max(CONVERSATIONS // 4, 3 * capacity), "full")

    elapsed = storm(team, inbox.Strategy.LEAST_OPEN, online_only=True, ids=ids)

    assert_assigned_once(ids)
    for agent in Agent.objects.filter(pk__in=[a.pk for a in online]):
        assert agent.open_count == capacity_each, (agent.username, agent.open_count)
    assert_open_counts_true(team)
    assigned = Conversation.objects.filter(pk__in=ids, assignee__isnull=False)
    assert assigned.count() == capacity
    queued = Conversation.objects.filter(pk__in=ids, assignee__isnull=True)
    assert queued.count() == len(ids) - capacity
    assert queued.filter(team=team).count() == queued.count(), "a queued conversation lost its team"
    assert not queued.filter(queued_at__isnull=True).exists(), "a queued conversation has no place in the queue"
    print(
        f"\ncapacity: {len(ids)} conversations for {capacity} places, {elapsed:.1f} s; "
        f"{capacity} assigned, {queued.count()} queued"
    )
