"""Routing throughput through the real engine, and queries per routed conversation.

Prints figures; asserts nothing. Run against PostgreSQL (a throw-away test database is
created and dropped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/route.py

For each team size it opens and routes conversations exactly as the API does
(``inbox.services.receive_message`` → trigger → ``routing.engine.advance``: assign + send
message + log), with tasks run inline so the broker is not what is measured, and compares
with the bare ORM routing transaction of PERFORMANCE.md measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ.setdefault("LOG_LEVEL", "WARNING")  # a log line per task would be measured too

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from inbox import services as inbox  # noqa: E402
from inbox.models import Agent, Assignment, Channel, Conversation, Team  # noqa: E402
from routing import services as routing  # noqa: E402
from routing.models import RunLog  # noqa: E402

ROUTES = int(os.environ.get("BENCH_ROUTES", "300"))
TEAM_SIZES = [int(n) for n in os.environ.get("BENCH_TEAM_SIZES", "10,5000").split(",")]


def make_team(name: str, size: int) -> Team:
    team = Team.objects.create(name=name)
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"{name.lower()}-{i}") for i in range(size)])
    agents = Agent.objects.bulk_create([Agent(user=u, availability="online") for u in users])
    Team.agents.through.objects.bulk_create([Team.agents.through(team=team, agent=a) for a in agents])
    return team


def orm_baseline(team: Team, channel: Channel, count: int) -> float:
    """PERFORMANCE.md's ORM routing transaction, on conversations opened beforehand."""
    from contacts.models import Contact

    contacts = Contact.objects.bulk_create([Contact(external_id=f"base-{team.pk}-{i}") for i in range(count)])
    conversations = Conversation.objects.bulk_create([Conversation(contact=c, channel=channel) for c in contacts])
    run_log_parent = None
    started = time.perf_counter()
    for conversation in conversations:
        with transaction.atomic():
            Team.objects.select_for_update().get(pk=team.pk)
            agent = inbox.pick_agent(team, strategy="least_open", online_only=True)
            Agent.objects.filter(pk=agent.pk).update(open_count=F("open_count") + 1, last_assigned_at=timezone.now())
            Conversation.objects.filter(pk=conversation.pk).update(team=team, assignee=agent)
            Assignment.objects.create(conversation=conversation, team=team, agent=agent)
            if run_log_parent is not None:
                RunLog.objects.create(run=run_log_parent, seq=0, step="x", step_type="assign", outcome="success")
    return count / (time.perf_counter() - started)


def engine_routes(team: Team, channel: Channel, count: int) -> tuple[float, list[int]]:
    routing.publish(
        routing.create_workflow(
            {
                "name": f"Route to {team.name}",
                "trigger": {
                    "type": "conversation_opened",
                    "conditions": [{"field": "conversation.channel", "op": "eq", "value": channel.name}],
                },
                "start": "assign",
                "steps": {
                    "assign": {
                        "type": "assign",
                        "team": team.name,
                        "strategy": "least_open",
                        "online_only": True,
                        "next": "hello",
                    },
                    "hello": {"type": "send_message", "text": "Hi {{contact.name}}, {{conversation.assignee}} here."},
                },
            }
        )
    )
    queries: list[int] = []

    def count_query(execute, sql, params, many, context):
        queries[-1] += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count_query):
        for i in range(count):
            queries.append(0)
            inbox.receive_message(channel, {"external_id": f"{team.pk}-{i}", "name": "Ana"}, "Hello")
    return count / (time.perf_counter() - started), queries


def main() -> None:
    print(f"database: {connection.vendor}, routes per measurement: {ROUTES}")
    config = setup_databases(verbosity=0, interactive=False)
    try:
        for size in TEAM_SIZES:
            team = make_team(f"T{size}", size)
            channel = Channel.objects.create(name=f"bench-{size}")
            baseline = orm_baseline(team, Channel.objects.create(name=f"base-{size}"), ROUTES)
            rate, queries = engine_routes(team, channel, ROUTES)
            spread = Agent.objects.filter(teams=team).values_list("open_count", flat=True)
            print(
                f"{size:>5} agents: engine {rate:6.1f} routes/s "
                f"({rate / baseline:4.0%} of the bare ORM transaction, {baseline:6.1f}/s); "
                f"queries per route: median {statistics.median(queries):.0f}, max {max(queries)}; "
                f"open-count spread {max(spread) - min(spread)}"
            )
    finally:
        teardown_databases(config, verbosity=0)


if __name__ == "__main__":
    main()
