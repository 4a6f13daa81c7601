"""Races a busy helpdesk meets, on a real PostgreSQL with real row locks (skipped on SQLite).

Threads each hold their own database connection, as concurrent web requests and workers do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from contacts.models import Contact
from inbox import services as inbox
from inbox.models import Conversation, Message
from routing import services as routing
from routing.models import Run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]


@pytest.fixture
def eager_tasks():
    """Tasks run inline in the thread that commits, so each thread is web request and worker at once."""
    from helpdesk.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def at_once(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads released together; returns what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # reported to the test, not lost in a thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_simultaneous_first_messages_open_one_conversation(api_channel, eager_tasks):
    routing.publish(
        routing.create_workflow(
            {
                "name": "Greet",
                "trigger": {"type": "conversation_opened"},
                "start": "hi",
                "steps": {"hi": {"type": "send_message", "text": "Hello!"}},
            }
        )
    )

    errors = at_once(8, lambda i: inbox.receive_message(api_channel, {"external_id": "same", "name": "Ana"}, f"m{i}"))

    assert errors == []
    assert Contact.objects.count() == 1
    conversation = Conversation.objects.get()
    assert conversation.messages.filter(direction=Message.Direction.INCOMING).count() == 8
    assert Run.objects.count() == 1
    assert list(conversation.messages.filter(direction="outgoing").values_list("text", flat=True)) == ["Hello!"]


def test_simultaneous_first_messages_with_only_an_email_make_one_contact(api_channel, eager_tasks):
    errors = at_once(8, lambda i: inbox.receive_message(api_channel, {"email": "ana@example.com"}, f"m{i}"))

    assert errors == []
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_simultaneous_answers_are_taken_once(api_channel, support, alice, eager_tasks):
    routing.publish(
        routing.create_workflow(
            {
                "name": "Ask",
                "trigger": {"type": "conversation_opened"},
                "start": "ask",
                "steps": {
                    "ask": {
                        "type": "ask_question",
                        "text": "Which team?",
                        "kind": "multiple_choice",
                        "options": ["Sales", "Support"],
                        "save_as": "team",
                        "next": {"success": "assign"},
                    },
                    "assign": {"type": "assign", "team": "Support", "next": "hello"},
                    "hello": {"type": "send_message", "text": "You are with {{var.team}}."},
                },
            }
        )
    )
    conversation, _ = inbox.receive_message(api_channel, {"external_id": "c"}, "Hi")
    assert Run.objects.get().status == Run.Status.WAITING_ANSWER

    errors = at_once(6, lambda i: inbox.receive_message(api_channel, {"external_id": "c"}, "support"))

    assert errors == []
    run = Run.objects.get()
    assert run.status == Run.Status.COMPLETED
    assert [e.outcome for e in run.log.filter(step="ask")] == ["waiting", "success"]
    outgoing = list(conversation.messages.filter(direction="outgoing").values_list("text", flat=True))
    assert outgoing == ["Which team?", "You are with Support."]
    alice.refresh_from_db()
    assert alice.open_count == 1


def test_duplicate_tasks_racing_advance_each_step_once(api_channel):
    from unittest import mock

    from routing.engine import advance

    steps = {f"s{i}": {"type": "add_comment", "text": f"note {i}", "next": f"s{i + 1}"} for i in range(10)}
    steps["s10"] = {"type": "send_message", "text": "done"}
    workflow = {"name": "Eleven steps", "trigger": {"type": "conversation_opened"}, "start": "s0", "steps": steps}
    routing.publish(routing.create_workflow(workflow))
    with mock.patch("routing.tasks.advance_run.delay"):  # the run waits for the racing workers below
        conversation, _ = inbox.receive_message(api_channel, {"external_id": "d"}, "Hi")
    run = Run.objects.get()

    errors = at_once(8, lambda i: advance(run.pk))

    assert errors == []
    texts = list(conversation.messages.exclude(direction="incoming").values_list("text", flat=True))
    assert texts == [f"note {i}" for i in range(10)] + ["done"]
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED


def test_two_teams_assigning_one_agent_at_once_respect_their_capacity(support, sales, eager_tasks):
    """The agent belongs to both teams; each team's lock alone would let both picks through."""
    from inbox.models import Agent
    from tests.factories import AgentFactory, ConversationFactory, UserFactory

    shared = AgentFactory(user=UserFactory(username="shared"), teams=[support, sales], max_open=3)
    conversations = [ConversationFactory() for _ in range(8)]

    errors = at_once(8, lambda i: inbox.assign(conversations[i], team=(support, sales)[i % 2], online_only=True))

    assert errors == []
    shared.refresh_from_db()
    assigned = Conversation.objects.filter(assignee=shared).count()
    assert (shared.open_count, assigned) == (3, 3)
    assert Conversation.objects.filter(assignee__isnull=True, queued_at__isnull=False).count() == 5
    assert Agent.objects.get(pk=shared.pk).open_count <= shared.max_open


def test_a_queue_drained_from_two_workers_at_once_assigns_each_conversation_once(support, alice, eager_tasks):
    from inbox.models import Agent, Assignment
    from tests.factories import AgentFactory, ConversationFactory, UserFactory

    colleague = AgentFactory(user=UserFactory(username="colleague"), teams=[support], availability="offline")
    Agent.objects.filter(pk=alice.pk).update(availability="offline")
    waiting = [ConversationFactory() for _ in range(12)]
    for conversation in waiting:
        assert inbox.assign(conversation, team=support, online_only=True).queued
    Agent.objects.filter(pk__in=[alice.pk, colleague.pk]).update(availability="online")

    errors = at_once(4, lambda i: inbox.drain_queue(support))

    assert errors == []
    assert Assignment.objects.filter(conversation__in=waiting, agent__isnull=False).count() == 12
    counts = sorted(Agent.objects.filter(teams=support).values_list("open_count", flat=True))
    assert counts == [6, 6]
    assert not Conversation.objects.filter(queued_at__isnull=False).exists()
