"""Publishing refuses a broken workflow with messages that name the step."""

from __future__ import annotations

import pytest

from routing import services as routing
from routing.models import Workflow


def workflow(steps, start="a", **extra):
    return {"name": "W", "trigger": {"type": "conversation_opened"}, "start": start, "steps": steps, **extra}


@pytest.fixture
def teams(support, alice):
    return support


def test_a_valid_workflow_has_no_errors(teams):
    assert (
        routing.validate_definition(
            workflow(
                {
                    "a": {"type": "assign", "team": "Support", "next": "b"},
                    "b": {"type": "send_message", "text": "Hi {{contact.name}}"},
                }
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ([], "A workflow must be a JSON object."),
        ({"steps": {}}, "'name' must be a non-empty text."),
        ({"name": "x", "steps": []}, "'steps' must be an object from step id to step."),
        (workflow({"a": {"type": "teleport"}}), "Step 'a': unknown step type 'teleport'"),
        (
            workflow({"a": {"type": "send_message", "text": "x", "next": "nowhere"}}),
            "Step 'a': 'next' points to 'nowhere', which is not a step.",
        ),
        (
            workflow({"a": {"type": "send_message", "text": "x"}, "b": {"type": "close_conversation"}}),
            "Step 'b': unreachable from the start step 'a'.",
        ),
        (workflow({"a": {"type": "assign", "team": "Nobody"}}), "Step 'a': Team 'Nobody' does not exist."),
        (workflow({"a": {"type": "assign", "agent": "ghost"}}), "Step 'a': Agent 'ghost' does not exist."),
        (workflow({"a": {"type": "wait", "seconds": -5}}), "Step 'a': 'seconds' must be between 1 and"),
        (workflow({"a": {"type": "wait", "seconds": 10 * 365 * 24 * 3600}}), "Step 'a': 'seconds' must be between"),
        (
            workflow({"a": {"type": "ask_question", "text": "?", "kind": "multiple_choice", "options": ["x"]}}),
            "Step 'a': A multiple-choice question needs at least two 'options'.",
        ),
        (
            workflow({"a": {"type": "ask_question", "text": "?", "kind": "riddle"}}),
            "Step 'a': Unknown question kind 'riddle'",
        ),
        (
            workflow({"a": {"type": "send_message", "text": "x", "next": {"timeout": "a"}}}),
            "Step 'a': 'next' has outcome 'timeout', but a send_message step has only success.",
        ),
        (workflow({"a": {"type": "send_message", "text": "Hi {{contct.name}}"}}), "Step 'a':"),
        (
            workflow(
                {
                    "a": {
                        "type": "branch",
                        "branches": [{"conditions": [{"field": "var.x", "op": "like", "value": 1}], "next": "a"}],
                    }
                }
            ),
            "Step 'a': branch 1:",
        ),
        (
            workflow({"a": {"type": "send_message", "text": "x", "colour": "red"}}),
            "Step 'a': unknown setting(s) colour for a send_message step.",
        ),
        (workflow({"a": {"type": "close_conversation"}}, start="zz"), "'start' must name one of the steps"),
        ({**workflow({"a": {"type": "close_conversation"}}), "trigger": {"type": "cron"}}, "trigger: unknown type"),
        (
            workflow({"a": {"type": "jump", "to": "b"}, "b": {"type": "jump", "to": "a"}}),
            "Steps 'a', 'b': a loop with no exit",
        ),
    ],
)
def test_publishing_refuses_with_a_message_naming_the_problem(teams, definition, expected):
    errors = routing.validate_definition(definition)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_loop_through_a_question_is_allowed(teams):
    definition = workflow(
        {
            "a": {"type": "ask_question", "text": "E-mail?", "kind": "email", "next": {"success": "b"}},
            "b": {"type": "jump", "to": "a"},
        }
    )
    assert routing.validate_definition(definition) == []


def test_publish_refuses_and_keeps_the_live_version(teams):
    wf = routing.create_workflow(workflow({"a": {"type": "send_message", "text": "v1"}}))
    routing.publish(wf)
    routing.update_draft(wf, workflow({"a": {"type": "send_message", "text": "v2", "next": "gone"}}))
    with pytest.raises(routing.WorkflowInvalid) as refused:
        routing.publish(wf)
    assert refused.value.errors == ["Step 'a': 'next' points to 'gone', which is not a step."]
    wf.refresh_from_db()
    assert wf.published_version.number == 1
    assert wf.published_version.definition["steps"]["a"]["text"] == "v1"


def test_a_draft_must_at_least_be_an_object_with_name_and_steps(db):
    with pytest.raises(routing.WorkflowInvalid):
        routing.create_workflow("not json object")
    assert not Workflow.objects.exists()


def test_publishing_twice_numbers_versions(teams):
    wf = routing.create_workflow(workflow({"a": {"type": "send_message", "text": "v1"}}))
    assert routing.publish(wf).number == 1
    assert routing.publish(wf).number == 2
    assert routing.export_workflow(wf)["steps"] == {"a": {"type": "send_message", "text": "v1"}}
