"""Each step kind does what an admin expects, and its outcome lands in the run log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ContactField
from inbox import services as inbox
from inbox.models import Agent, Assignment, Conversation, Message
from routing import services as routing
from routing.models import Run, Timer
from routing.steps.question import match_option, parse_answer
from routing.timers import fire_due


def start(channel, steps, run_on_commit, *, start="a", contact=None, text="Hello"):
    workflow = routing.create_workflow(
        {"name": "T", "trigger": {"type": "conversation_opened"}, "start": start, "steps": steps}
    )
    routing.publish(workflow)
    with run_on_commit(execute=True):
        conversation, _ = inbox.receive_message(channel, contact or {"external_id": "c"}, text)
    return conversation, Run.objects.get(conversation=conversation)


def reply(channel, text, run_on_commit, contact=None):
    with run_on_commit(execute=True):
        inbox.receive_message(channel, contact or {"external_id": "c"}, text)


def log(run):
    return [(e.step, e.outcome) for e in run.log.exclude(step_type="trigger")]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("2", "Technical support"),
        ("2.", "Technical support"),
        ("technical SUPPORT", "Technical support"),
        ("I need billing please", "Billing"),
        ("facturación", None),
        ("3", "Billing"),
        ("0", None),
        ("9", None),
        ("😀", None),
        ("", None),
        ("sales or billing", None),
    ],
)
def test_options_match_by_number_text_or_single_mention(answer, expected):
    assert match_option(answer, ["Sales", "Technical support", "Billing"]) == expected


def test_accents_are_ignored_when_matching_options():
    assert match_option("facturacion", ["Ventas", "Facturación"]) == "Facturación"


@pytest.mark.parametrize(
    ("kind", "answer", "value"),
    [
        ("email", " Ana@Example.COM ", "ana@example.com"),
        ("phone", "+34 612 345 678", "+34612345678"),
        ("number", "3,5", 3.5),
        ("number", "42", 42),
        ("date", "24/12/2026", "2026-12-24"),
        ("date", "2026-12-24", "2026-12-24"),
        ("text", "anything at all", "anything at all"),
    ],
)
def test_answers_are_parsed_by_kind(kind, answer, value):
    assert parse_answer(kind, answer, options=[]) == value


@pytest.mark.parametrize(
    ("kind", "answer"),
    [("email", "ana@"), ("phone", "12"), ("number", "many"), ("date", "tomorrow"), ("number", "nan"), ("text", "   ")],
)
def test_invalid_answers_are_refused(kind, answer):
    with pytest.raises(ValueError):
        parse_answer(kind, answer, options=[])


def test_an_email_question_saves_the_answer_to_the_contact(api_channel, run_on_commit):
    steps = {
        "a": {
            "type": "ask_question",
            "text": "Your e-mail?",
            "kind": "email",
            "save_as": "email",
            "retries": 3,
            "next": {"success": "save"},
        },
        "save": {"type": "update_contact", "field": "email", "value": "{{var.email}}", "next": "thanks"},
        "thanks": {"type": "send_message", "text": "Thanks, we'll write to {{contact.email}}."},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    reply(api_channel, "not an email", run_on_commit)
    reply(api_channel, "Ana@Example.com", run_on_commit)
    conversation.contact.refresh_from_db()
    assert conversation.contact.email == "ana@example.com"
    assert conversation.messages.filter(direction="outgoing").last().text == "Thanks, we'll write to ana@example.com."
    run.refresh_from_db()
    assert log(run) == [
        ("a", "waiting"),
        ("a", "retry"),
        ("a", "success"),
        ("save", "success"),
        ("thanks", "success"),
        ("thanks", "end"),
    ]


def test_a_question_times_out_through_a_durable_timer(api_channel, run_on_commit):
    steps = {
        "a": {"type": "ask_question", "text": "Still there?", "timeout": 60, "next": {"timeout": "bye"}},
        "bye": {"type": "close_conversation"},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    timer = Timer.objects.get(run=run)
    assert timer.kind == Timer.Kind.QUESTION_TIMEOUT
    with run_on_commit(execute=True):
        assert fire_due() == 0  # not due yet
        Timer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(seconds=1))
        assert fire_due() == 1
        assert fire_due() == 0  # fires once
    run.refresh_from_db()
    conversation.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert log(run)[1] == ("a", "timeout")
    assert conversation.status == Conversation.Status.CLOSED


def test_an_answer_cancels_the_question_timeout(api_channel, run_on_commit):
    steps = {"a": {"type": "ask_question", "text": "Name?", "timeout": 60}}
    _conversation, run = start(api_channel, steps, run_on_commit)
    reply(api_channel, "Ana", run_on_commit)
    assert Timer.objects.get(run=run).cancelled_at is not None
    Timer.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    assert fire_due() == 0
    run.refresh_from_db()
    assert run.variables == {"a": "Ana"}


def test_a_wait_step_resumes_when_its_timer_fires(api_channel, run_on_commit):
    steps = {"a": {"type": "wait", "seconds": 900, "next": "b"}, "b": {"type": "add_comment", "text": "Waited."}}
    conversation, run = start(api_channel, steps, run_on_commit)
    assert run.status == Run.Status.WAITING_TIMER
    reply(api_channel, "hello?", run_on_commit)  # an answer does not end a wait
    Timer.objects.update(due_at=timezone.now())
    with run_on_commit(execute=True):
        fire_due()
    assert conversation.messages.filter(direction=Message.Direction.COMMENT).get().text == "Waited."


def test_assign_takes_queued_when_nobody_in_the_team_is_online(api_channel, alice, support, run_on_commit):
    Agent.objects.update(availability=Agent.Availability.OFFLINE)
    steps = {
        "a": {"type": "assign", "team": "Support", "online_only": True, "next": {"queued": "b"}},
        "b": {"type": "send_message", "text": "All our agents are busy; we'll be with you soon."},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (support, None)
    assert log(run)[0] == ("a", "queued")
    assert "Nobody in Support can take it now" in run.log.get(step="a").detail


def test_round_robin_gives_each_agent_a_turn(api_channel, support, run_on_commit):
    from tests.factories import AgentFactory, UserFactory

    agents = [AgentFactory(user=UserFactory(username=f"agent{i}"), teams=[support]) for i in range(3)]
    routing.publish(
        routing.create_workflow(
            {
                "name": "RR",
                "trigger": {"type": "conversation_opened"},
                "start": "a",
                "steps": {"a": {"type": "assign", "team": "Support"}},
            }
        )
    )
    with run_on_commit(execute=True):
        for i in range(6):
            inbox.receive_message(api_channel, {"external_id": f"rr{i}"}, "Hi")
    counts = sorted(Agent.objects.filter(pk__in=[a.pk for a in agents]).values_list("open_count", flat=True))
    assert counts == [2, 2, 2]
    assert Assignment.objects.count() == 6


def test_assign_to_a_specific_agent_and_reassign_to_someone_else(api_channel, support, alice, run_on_commit):
    from tests.factories import AgentFactory, UserFactory

    carol = AgentFactory(user=UserFactory(username="carol"), teams=[support])
    steps = {
        "a": {"type": "assign", "agent": "alice", "strategy": "specific", "next": "b"},
        "b": {"type": "assign", "team": "Support", "exclude_current": True, "next": "c"},
        "c": {"type": "add_comment", "text": "{{conversation.assignee}} took over from alice."},
    }
    conversation, _run = start(api_channel, steps, run_on_commit)
    conversation.refresh_from_db()
    alice.refresh_from_db()
    carol.refresh_from_db()
    assert conversation.assignee == carol
    assert (alice.open_count, carol.open_count) == (0, 1)
    assert conversation.messages.get(direction="comment").text == "carol took over from alice."


def test_update_contact_refuses_an_undeclared_field_with_a_logged_failure(api_channel, run_on_commit):
    steps = {
        "a": {"type": "update_contact", "field": "plan", "value": "gold", "next": {"failure": "b"}},
        "b": {"type": "update_contact", "field": "tags", "value": "vip"},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    assert log(run)[0] == ("a", "failure")
    assert "Unknown contact field plan" in run.log.get(step="a").detail
    conversation.contact.refresh_from_db()
    assert conversation.contact.tags == ["vip"]
    ContactField.objects.create(key="plan", label="Plan")


def test_a_failure_with_nowhere_to_go_fails_the_run_and_says_so(api_channel, run_on_commit):
    steps = {"a": {"type": "update_contact", "field": "email", "value": "not-an-email"}}
    _conversation, run = start(api_channel, steps, run_on_commit)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "no step for outcome 'failure'" in run.log.last().detail


def test_closing_the_conversation_cancels_a_pending_question(api_channel, run_on_commit):
    steps = {"a": {"type": "ask_question", "text": "Name?"}}
    conversation, run = start(api_channel, steps, run_on_commit)
    inbox.close_conversation(conversation)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_a_step_that_crashes_leaves_no_half_written_effects(api_channel, run_on_commit, monkeypatch):
    from routing.steps.conversation import SendMessageStep

    def boom(self, ctx):
        inbox.add_comment(ctx.conversation, "half-written")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SendMessageStep, "run", boom)
    conversation, run = start(api_channel, {"a": {"type": "send_message", "text": "x"}}, run_on_commit)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "RuntimeError: disk on fire" in run.log.get(step="a", outcome="failure").detail
    assert not conversation.messages.filter(direction="comment").exists()


def test_a_question_on_a_closed_conversation_fails_instead_of_waiting_forever(api_channel, run_on_commit):
    from unittest import mock

    from routing.engine import advance

    routing.publish(
        routing.create_workflow(
            {
                "name": "Q",
                "trigger": {"type": "conversation_opened"},
                "start": "a",
                "steps": {"a": {"type": "ask_question", "text": "Name?"}},
            }
        )
    )
    with mock.patch("routing.tasks.advance_run.delay"):  # an agent closes it before the worker starts
        conversation, _ = inbox.receive_message(api_channel, {"external_id": "c"}, "Hi")
    inbox.close_conversation(conversation)
    run = Run.objects.get()
    advance(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "The conversation is closed" in run.log.get(step="a", outcome="failure").detail
    assert not conversation.messages.filter(direction="outgoing").exists()


def test_a_named_agent_who_cannot_take_it_hands_over_to_the_team(api_channel, support, sales, alice, run_on_commit):
    from tests.factories import AgentFactory, UserFactory

    dual = AgentFactory(user=UserFactory(username="dual"), teams=[sales, support], availability="offline")
    steps = {
        "a": {
            "type": "assign",
            "agent": "dual",
            "team": "Support",
            "online_only": True,
            "next": {"success": "b", "queued": "c"},
        },
        "b": {"type": "add_comment", "text": "assigned"},
        "c": {"type": "add_comment", "text": "queued"},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (support, alice)
    assert conversation.messages.get(direction="comment").text == "assigned"
    assert "dual is offline" in run.log.get(step="a").detail
    dual.refresh_from_db()
    assert dual.open_count == 0


def test_a_named_agent_in_two_teams_is_filed_under_the_team_the_step_names(api_channel, support, sales, run_on_commit):
    from tests.factories import AgentFactory, UserFactory

    dual = AgentFactory(user=UserFactory(username="dual"), teams=[sales, support])
    conversation, _run = start(
        api_channel, {"a": {"type": "assign", "agent": "dual", "team": "Support"}}, run_on_commit
    )
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (support, dual)


def test_reassigning_when_nobody_else_is_online_leaves_it_with_its_agent(api_channel, support, alice, run_on_commit):
    steps = {
        "a": {"type": "assign", "agent": "alice", "next": "b"},
        "b": {
            "type": "assign",
            "team": "Support",
            "online_only": True,
            "exclude_current": True,
            "next": {"failure": "c"},
        },
        "c": {"type": "add_comment", "text": "Nobody else could take it."},
    }
    conversation, run = start(api_channel, steps, run_on_commit)
    conversation.refresh_from_db()
    alice.refresh_from_db()
    assert (conversation.assignee, alice.open_count) == (alice, 1)
    assert (
        run.log.get(step="b").detail
        == "Nobody else in Support can take it now (only online agents). It stays with alice."
    )
