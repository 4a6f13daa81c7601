"""The engine runs workflows step by step, waits for answers and logs every outcome."""

from __future__ import annotations

import pytest

from inbox import services as inbox
from inbox.models import Message
from routing import services as routing
from routing.models import Run
from tests.factories import WorkflowFactory

ROUTE_BY_TEAM = {
    "name": "Route by team",
    "trigger": {
        "type": "conversation_opened",
        "conditions": [{"field": "conversation.source", "op": "eq", "value": "contact"}],
    },
    "start": "ask",
    "steps": {
        "ask": {
            "type": "ask_question",
            "text": "Which team? 1. Sales 2. Support",
            "kind": "multiple_choice",
            "options": ["Sales", "Support"],
            "save_as": "team",
            "retries": 1,
            "timeout": 3600,
            "next": {"success": "route", "failure": "fallback", "timeout": "fallback"},
        },
        "route": {
            "type": "branch",
            "branches": [
                {"match": "all", "conditions": [{"field": "var.team", "op": "eq", "value": "Sales"}], "next": "sales"},
                {
                    "match": "all",
                    "conditions": [{"field": "var.team", "op": "eq", "value": "Support"}],
                    "next": "support",
                },
            ],
            "else": "fallback",
        },
        "sales": {
            "type": "assign",
            "team": "Sales",
            "strategy": "round_robin",
            "next": {"success": "hello", "queued": "hello", "failure": "fallback"},
        },
        "support": {"type": "assign", "team": "Support", "strategy": "least_open", "next": "hello"},
        "hello": {"type": "send_message", "text": "You are now with our {{var.team}} team."},
        "fallback": {"type": "assign", "team": "Support", "strategy": "least_open"},
    },
}


def live(definition):
    workflow = routing.create_workflow(definition)
    routing.publish(workflow)
    return workflow


def say(channel, text, external_id="c-1"):
    return inbox.receive_message(channel, {"external_id": external_id, "name": "Carla"}, text)


def texts(conversation, direction=Message.Direction.OUTGOING):
    return list(conversation.messages.filter(direction=direction).values_list("text", flat=True))


@pytest.fixture
def route_by_team(alice, bob):
    return live(ROUTE_BY_TEAM)


def test_it_asks_then_assigns_to_the_team_the_contact_picks(route_by_team, api_channel, alice, run_on_commit):
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hi there")
    assert texts(conversation) == ["Which team? 1. Sales 2. Support"]
    run = Run.objects.get(conversation=conversation)
    assert run.status == Run.Status.WAITING_ANSWER

    with run_on_commit(execute=True):
        say(api_channel, "  SÚPPORT ")

    conversation.refresh_from_db()
    run.refresh_from_db()
    assert conversation.team.name == "Support"
    assert conversation.assignee == alice
    assert texts(conversation)[-1] == "You are now with our Support team."
    assert run.status == Run.Status.COMPLETED
    assert run.variables == {"team": "Support"}
    assert [(e.step, e.outcome) for e in run.log.all()] == [
        ("", "started"),
        ("ask", "waiting"),
        ("ask", "success"),
        ("route", "success"),
        ("support", "success"),
        ("hello", "success"),
        ("hello", "end"),
    ]


def test_an_answer_by_number_picks_the_option(route_by_team, api_channel, bob, run_on_commit):
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    with run_on_commit(execute=True):
        say(api_channel, "1")
    conversation.refresh_from_db()
    assert (conversation.team.name, conversation.assignee) == ("Sales", bob)


def test_an_invalid_answer_is_asked_again_then_fails_over(route_by_team, api_channel, alice, run_on_commit):
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    with run_on_commit(execute=True):
        say(api_channel, "🤷")
    assert texts(conversation)[-1].startswith("Sorry, I didn't understand. Please reply with one of: 1. Sales")
    with run_on_commit(execute=True):
        say(api_channel, "Поддержка")
    conversation.refresh_from_db()
    run = Run.objects.get(conversation=conversation)
    assert conversation.team.name == "Support"
    assert run.status == Run.Status.COMPLETED
    assert [e.outcome for e in run.log.filter(step="ask")] == ["waiting", "retry", "failure"]
    assert "no retries left" in run.log.get(step="ask", outcome="failure").detail


def test_a_run_finishes_on_the_version_it_started_with(route_by_team, api_channel, run_on_commit):
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    changed = {
        **ROUTE_BY_TEAM,
        "steps": {**ROUTE_BY_TEAM["steps"], "hello": {"type": "send_message", "text": "Version two says hi."}},
    }
    routing.update_draft(route_by_team, changed)
    routing.publish(route_by_team)
    with run_on_commit(execute=True):
        say(api_channel, "sales")
    assert texts(conversation)[-1] == "You are now with our Sales team."
    assert Run.objects.get(conversation=conversation).version.number == 1


def test_a_message_appended_to_an_open_conversation_starts_no_new_run(route_by_team, api_channel, run_on_commit):
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
        say(api_channel, "sales")
        say(api_channel, "thanks")
    assert Run.objects.filter(conversation=conversation).count() == 1


def test_a_duplicate_task_delivery_does_nothing_twice(route_by_team, api_channel, run_on_commit):
    from routing.engine import advance

    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    run = Run.objects.get(conversation=conversation)
    advance(run.pk)
    advance(run.pk)
    assert texts(conversation) == ["Which team? 1. Sales 2. Support"]
    assert run.log.count() == 2


def test_trigger_conditions_choose_which_workflows_start(api_channel, run_on_commit, db):
    only_agents = {
        **ROUTE_BY_TEAM,
        "name": "Agents only",
        "trigger": {
            "type": "conversation_opened",
            "conditions": [{"field": "conversation.source", "op": "eq", "value": "agent"}],
        },
    }
    WorkflowFactory(name="A draft never starts")
    live_workflow = routing.create_workflow(
        {**only_agents, "steps": {"hi": {"type": "send_message", "text": "x"}}, "start": "hi"}
    )
    routing.publish(live_workflow)
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    assert not Run.objects.filter(conversation=conversation).exists()


def test_a_jump_loop_is_stopped_by_the_guard(api_channel, run_on_commit, settings):
    settings.ROUTING_MAX_JUMPS = 3
    looping = {
        "name": "Loop",
        "trigger": {"type": "conversation_opened"},
        "start": "a",
        "steps": {
            "a": {
                "type": "branch",
                "branches": [{"conditions": [{"field": "var.x", "op": "exists"}], "next": "b"}],
                "else": "b",
            },
            "b": {"type": "jump", "to": "a"},
        },
    }
    workflow = routing.create_workflow(looping)
    assert routing.validate_definition(looping) == [
        "Steps 'a', 'b': a loop with no exit (no question, wait or way out)."
    ]
    # Published anyway (bypassing validation, as an older version might be): the runtime guard stops it.
    version = workflow.versions.create(number=1, definition=looping)
    workflow.published_version = version
    workflow.save()
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    run = Run.objects.get(conversation=conversation)
    assert run.status == Run.Status.FAILED
    assert "loop guard" in run.error


def test_a_draft_with_another_trigger_does_not_stop_the_live_version(route_by_team, api_channel, run_on_commit):
    draft = {**ROUTE_BY_TEAM, "trigger": {"type": "shortcut", "form": []}}
    routing.update_draft(route_by_team, draft)
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    assert Run.objects.filter(conversation=conversation, version__number=1).exists()
    routing.publish(route_by_team)
    route_by_team.refresh_from_db()
    assert route_by_team.trigger_type == "shortcut"


def test_an_answer_sent_while_the_previous_one_is_judged_is_not_lost(route_by_team, api_channel, run_on_commit):
    from unittest import mock

    from routing.engine import advance

    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    run = Run.objects.get(conversation=conversation)
    with mock.patch("routing.tasks.advance_run.delay"):  # both arrive before the worker gets to them
        say(api_channel, "hmm")
        say(api_channel, "Sales")
    advance(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert run.variables == {"team": "Sales"}
    assert [e.outcome for e in run.log.filter(step="ask")] == ["waiting", "retry", "success"]


def test_a_loop_that_never_waits_is_stopped_before_it_floods_the_contact(api_channel, run_on_commit):
    nagging = {
        "name": "Nag",
        "trigger": {"type": "conversation_opened"},
        "start": "check",
        "steps": {
            "check": {
                "type": "branch",
                "branches": [
                    {"conditions": [{"field": "conversation.status", "op": "eq", "value": "open"}], "next": "nag"}
                ],
                "else": "done",
            },
            "nag": {"type": "send_message", "text": "Still there?", "next": "check"},
            "done": {"type": "close_conversation"},
        },
    }
    assert routing.validate_definition(nagging) == []  # it has a way out, which just never fires
    live(nagging)
    with run_on_commit(execute=True):
        conversation, _ = say(api_channel, "Hello")
    run = Run.objects.get(conversation=conversation)
    assert run.status == Run.Status.FAILED
    assert "without the run waiting once (loop guard)" in run.error
    assert len(texts(conversation)) == 10


def test_a_run_whose_task_was_lost_is_picked_up_again(route_by_team, api_channel, run_on_commit):
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from routing.tasks import requeue_stalled_runs

    with mock.patch("routing.tasks.advance_run.delay"):  # the broker loses the first task
        conversation, _ = say(api_channel, "Hello")
    run = Run.objects.get(conversation=conversation)
    assert requeue_stalled_runs() == 0  # too recent to call stalled
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=1))

    with run_on_commit(execute=True):
        assert requeue_stalled_runs() == 1

    run.refresh_from_db()
    assert run.status == Run.Status.WAITING_ANSWER
    assert texts(conversation) == ["Which team? 1. Sales 2. Support"]
