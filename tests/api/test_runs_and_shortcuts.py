"""Run logs of a conversation, and shortcuts an agent starts from a conversation."""

from __future__ import annotations

import pytest

from routing import services as routing_services
from routing.models import Run, RunLog
from tests.api.conftest import API
from tests.factories import WorkflowFactory

ESCALATE = {
    "name": "Escalate to second line",
    "trigger": {
        "type": "shortcut",
        "name": "Escalate",
        "description": "Hand it to second-line support",
        "form": [
            {
                "name": "team",
                "label": "Escalate to team",
                "type": "dropdown",
                "options": ["Sales", "Support"],
                "required": True,
            },
            {"name": "summary", "type": "text", "required": True},
        ],
    },
    "start": "route",
    "steps": {
        "route": {
            "type": "branch",
            "branches": [
                {"match": "all", "conditions": [{"field": "var.team", "op": "eq", "value": "Sales"}], "next": "sales"}
            ],
            "else": "support",
        },
        "sales": {"type": "assign", "team": "Sales", "strategy": "round_robin", "next": "note"},
        "support": {"type": "assign", "team": "Support", "strategy": "round_robin", "next": "note"},
        "note": {"type": "add_comment", "text": "Escalated: {{var.summary}}"},
    },
}


@pytest.fixture
def run_with_log(support_conversation) -> Run:
    """A finished run with two log lines, written directly: the API only reads them."""
    workflow = WorkflowFactory(name="Greeter")
    version = routing_services.publish(workflow)
    run = Run.objects.create(
        workflow=workflow,
        version=version,
        conversation=support_conversation,
        status=Run.Status.COMPLETED,
        current_step="hello",
        variables={"team": "Support"},
    )
    RunLog.objects.create(run=run, seq=0, step="", step_type="trigger", outcome="started", detail="Opened.")
    RunLog.objects.create(run=run, seq=1, step="hello", step_type="send_message", outcome="success", detail="Sent.")
    return run


@pytest.fixture
def escalate(admin_api, support, sales) -> int:
    response = admin_api.post(f"{API}/workflows/import/?publish=1", ESCALATE, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_conversations_runs_show_their_log_in_order(alice_api, run_with_log, support_conversation):
    response = alice_api.get(f"{API}/conversations/{support_conversation.pk}/runs/")

    assert response.status_code == 200
    [run] = response.json()
    assert (run["id"], run["workflow"], run["workflow_id"], run["version"], run["status"]) == (
        run_with_log.pk,
        "Greeter",
        run_with_log.workflow_id,
        1,
        "completed",
    )
    assert run["variables"] == {"team": "Support"}
    assert [(e["step"], e["type"], e["outcome"], e["detail"]) for e in run["log"]] == [
        ("", "trigger", "started", "Opened."),
        ("hello", "send_message", "success", "Sent."),
    ]
    assert all(e["at"] for e in run["log"])


def test_a_run_is_readable_by_id_only_where_its_conversation_is(alice_api, bob_api, run_with_log):
    assert alice_api.get(f"{API}/runs/{run_with_log.pk}/").json()["log"][1]["step"] == "hello"
    assert bob_api.get(f"{API}/runs/{run_with_log.pk}/").status_code == 404


def test_runs_are_read_without_a_query_per_run(
    admin_api, run_with_log, support_conversation, django_assert_max_num_queries
):
    for _ in range(3):
        Run.objects.create(
            workflow=run_with_log.workflow, version=run_with_log.version, conversation=support_conversation
        )

    with django_assert_max_num_queries(6):
        response = admin_api.get(f"{API}/conversations/{support_conversation.pk}/runs/")

    assert len(response.json()) == 4


def test_an_agent_lists_the_shortcuts_with_their_forms(alice_api, escalate, support_conversation):
    response = alice_api.get(f"{API}/conversations/{support_conversation.pk}/shortcuts/")

    assert response.status_code == 200
    [shortcut] = response.json()
    assert (shortcut["id"], shortcut["name"]) == (escalate, "Escalate")
    assert [field["name"] for field in shortcut["form"]] == ["team", "summary"]


def test_an_agent_starts_a_shortcut_with_the_forms_values(alice_api, alice, escalate, support_conversation):
    response = alice_api.post(
        f"{API}/conversations/{support_conversation.pk}/shortcuts/{escalate}/start/",
        {"team": "sales", "summary": "Wants a refund"},
        format="json",
    )

    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run"])
    assert (run.conversation_id, run.workflow_id) == (support_conversation.pk, escalate)
    assert run.variables == {"team": "Sales", "summary": "Wants a refund"}
    assert run.started_by == alice.user


def test_a_shortcut_form_missing_a_required_value_is_a_400(alice_api, escalate, support_conversation):
    response = alice_api.post(
        f"{API}/conversations/{support_conversation.pk}/shortcuts/{escalate}/start/", {"team": "Sales"}, format="json"
    )

    assert response.status_code == 400
    assert "summary" in response.json()
    assert not Run.objects.exists()


def test_a_shortcut_on_a_conversation_the_agent_cannot_see_is_a_404(bob_api, escalate, support_conversation):
    response = bob_api.post(
        f"{API}/conversations/{support_conversation.pk}/shortcuts/{escalate}/start/",
        {"team": "Sales", "summary": "x"},
        format="json",
    )

    assert response.status_code == 404
    assert not Run.objects.exists()


def test_a_workflow_that_is_not_a_live_shortcut_cannot_be_started(alice_api, admin_api, support_conversation):
    draft = admin_api.post(f"{API}/workflows/", ESCALATE, format="json").json()["id"]  # never published
    opened_trigger = WorkflowFactory()
    routing_services.publish(opened_trigger)

    for workflow_id in (draft, opened_trigger.pk, 999999):
        response = alice_api.post(
            f"{API}/conversations/{support_conversation.pk}/shortcuts/{workflow_id}/start/",
            {"team": "Sales", "summary": "x"},
            format="json",
        )
        assert response.status_code == 404, workflow_id
    assert not Run.objects.exists()
