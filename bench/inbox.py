"""Server time of the agent inbox at 100,000 conversations, and queries per list page.

Prints figures; asserts nothing. Run against PostgreSQL (a throw-away test database is
created and dropped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/inbox.py

It fills the database with ``BENCH_CONVERSATIONS`` conversations (bulk_create: contacts,
conversations spread over teams, agents and a year of opening times, one message each, a
long thread on one of them), then times, with the Django test client (so the whole
request: middleware, ORM, templates), ``BENCH_REQUESTS`` requests of each page: the list
as an agent (tabs Mine and My teams), as an admin (All), a search, and one conversation.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from contacts.models import Contact  # noqa: E402
from inbox.models import Agent, Channel, Conversation, Message, Team  # noqa: E402

CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "100000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50"))
TEAMS = 10
AGENTS_PER_TEAM = 5
BATCH = 5000


def fill() -> tuple[Agent, object, Conversation]:
    rng = random.Random(42)
    User = get_user_model()
    teams = Team.objects.bulk_create([Team(name=f"Team {i}") for i in range(TEAMS)])
    users = User.objects.bulk_create([User(username=f"agent{i}") for i in range(TEAMS * AGENTS_PER_TEAM)])
    agents = Agent.objects.bulk_create([Agent(user=u, availability="online") for u in users])
    for i, agent in enumerate(agents):
        agent.teams.add(teams[i // AGENTS_PER_TEAM])
    admin = User.objects.create_superuser("admin", "admin@example.com", "x")
    channels = Channel.objects.bulk_create(
        [Channel(name="API"), Channel(name="WhatsApp"), Channel(name="Web chat", kind="web_chat")]
    )
    made = 0
    while made < CONVERSATIONS:
        size = min(BATCH, CONVERSATIONS - made)
        contacts = Contact.objects.bulk_create(
            [
                Contact(external_id=f"c-{made + i}", name=f"Contact {made + i}", email=f"c{made + i}@example.com")
                for i in range(size)
            ]
        )
        rows = []
        for contact in contacts:
            team_index = rng.randrange(TEAMS)
            assigned = rng.random() < 0.8
            agent = agents[team_index * AGENTS_PER_TEAM + rng.randrange(AGENTS_PER_TEAM)] if assigned else None
            rows.append(
                Conversation(
                    contact=contact,
                    channel=rng.choice(channels),
                    team=teams[team_index],
                    assignee=agent,
                    status="open" if rng.random() < 0.2 else "closed",
                )
            )
        conversations = Conversation.objects.bulk_create(rows)
        Message.objects.bulk_create(
            [Message(conversation=c, direction="incoming", text=f"Hello, order {c.pk} is late.") for c in conversations]
        )
        made += size
    # Spread opening times over a year, newest last (bulk_create stamps them all "now").
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("UPDATE inbox_conversation SET opened_at = now() - (%s - id) * interval '5 minutes'", [made])
            cursor.execute("ANALYZE")
        else:
            cursor.execute(
                "UPDATE inbox_conversation SET opened_at = datetime('now', '-' || ((%s - id) * 5) || ' minutes')",
                [made],
            )
    agent = agents[0]
    watched = Conversation.objects.filter(assignee=agent, status="open").order_by("-opened_at").first()
    Message.objects.bulk_create(
        [
            Message(conversation=watched, direction=("incoming", "outgoing", "comment")[i % 3], text=f"Message {i}")
            for i in range(60)
        ]
    )
    return agent, admin, watched


def timed(client: Client, url: str) -> tuple[float, float, int]:
    """p50 and p95 in ms over REQUESTS requests, and the queries of one request."""
    client.get(url)  # warm-up
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[18], queries


def report(pages: list[tuple[str, Client, str]]) -> None:
    print(f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for name, client, url in pages:
        p50, p95, queries = timed(client, url)
        print(f"{name:<34} {p50:8.1f} {p95:8.1f} {queries:8d}")


def main() -> None:
    settings.DEBUG = False
    print(f"database: {connection.vendor}; conversations: {CONVERSATIONS:,}; requests per page: {REQUESTS}")
    config = setup_databases(verbosity=0, interactive=False)
    try:
        started = time.perf_counter()
        agent, admin, watched = fill()
        print(f"filled in {time.perf_counter() - started:.1f}s")
        as_agent, as_admin = Client(), Client()
        as_agent.force_login(agent.user)
        as_admin.force_login(admin)
        pages = [
            ("list, agent, Mine", as_agent, "/inbox/"),
            ("list, agent, My teams", as_agent, "/inbox/?tab=teams"),
            ("list, agent, My teams, page 20", as_agent, "/inbox/?tab=teams&page=20"),
            ("list, admin, All open", as_admin, "/inbox/"),
            ("list, admin, All, any status", as_admin, "/inbox/?status=all"),
            ("list, admin, search by name", as_admin, "/inbox/?status=all&q=Contact%2099999"),
            ("conversation (60 messages)", as_agent, f"/inbox/c/{watched.pk}/"),
            ("conversation poll (htmx)", as_agent, f"/inbox/c/{watched.pk}/live/"),
        ]
        report(pages)
    finally:
        teardown_databases(config, verbosity=0)


if __name__ == "__main__":
    main()
