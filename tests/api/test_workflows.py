"""Administrators draft, validate, publish, export and import workflows as JSON."""

from __future__ import annotations

import copy

import pytest

from routing.models import Workflow
from tests.api.conftest import API

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
            "text": "Which team?",
            "kind": "multiple_choice",
            "options": ["Sales", "Support"],
            "save_as": "team",
            "retries": 3,
            "timeout": 3600,
            "next": {"success": "route", "failure": "fallback", "timeout": "fallback"},
        },
        "route": {
            "type": "branch",
            "branches": [
                {"match": "all", "conditions": [{"field": "var.team", "op": "eq", "value": "Sales"}], "next": "sales"}
            ],
            "else": "fallback",
        },
        "sales": {
            "type": "assign",
            "team": "Sales",
            "strategy": "round_robin",
            "online_only": True,
            "next": {"success": "hello", "failure": "fallback"},
        },
        "hello": {"type": "send_message", "text": "You are now with our {{var.team}} team."},
        "fallback": {"type": "assign", "team": "Support", "strategy": "least_open"},
    },
}


@pytest.fixture
def teams(support, sales):
    return support, sales


def test_a_workflow_round_trips_through_create_publish_and_export(admin_api, teams):
    created = admin_api.post(f"{API}/workflows/", ROUTE_BY_TEAM, format="json")
    assert created.status_code == 201, created.content
    workflow = created.json()
    assert (workflow["name"], workflow["trigger_type"], workflow["published_version"]) == (
        "Route by team",
        "conversation_opened",
        None,
    )

    published = admin_api.post(f"{API}/workflows/{workflow['id']}/publish/")
    exported = admin_api.get(f"{API}/workflows/{workflow['id']}/export/")
    detail = admin_api.get(f"{API}/workflows/{workflow['id']}/")

    assert published.status_code == 200, published.content
    assert published.json()["version"] == 1
    assert exported.status_code == 200
    assert exported.json() == ROUTE_BY_TEAM
    assert detail.json()["published_version"] == 1


def test_publishing_a_dangling_next_is_refused_naming_the_step(admin_api, teams):
    broken = copy.deepcopy(ROUTE_BY_TEAM)
    broken["steps"]["hello"]["next"] = "nowhere"
    workflow_id = admin_api.post(f"{API}/workflows/", broken, format="json").json()["id"]

    response = admin_api.post(f"{API}/workflows/{workflow_id}/publish/")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any("hello" in error and "nowhere" in error for error in errors), errors
    assert Workflow.objects.get(pk=workflow_id).published_version is None


def test_validate_reports_without_publishing(admin_api, teams):
    broken = copy.deepcopy(ROUTE_BY_TEAM)
    broken["steps"]["sales"]["team"] = "Ghosts"
    workflow_id = admin_api.post(f"{API}/workflows/", broken, format="json").json()["id"]

    response = admin_api.post(f"{API}/workflows/{workflow_id}/validate/")

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert any("sales" in error for error in response.json()["errors"])
    assert Workflow.objects.get(pk=workflow_id).published_version is None


@pytest.mark.parametrize("body", [[1, 2], "just text", {"steps": {}}, {"name": "", "steps": {}}])
def test_a_body_that_is_not_a_workflow_is_a_400_with_errors(admin_api, body):
    response = admin_api.post(f"{API}/workflows/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Workflow.objects.exists()


def test_editing_the_draft_leaves_the_live_version_alone(admin_api, teams):
    workflow_id = admin_api.post(f"{API}/workflows/", ROUTE_BY_TEAM, format="json").json()["id"]
    admin_api.post(f"{API}/workflows/{workflow_id}/publish/")
    edited = copy.deepcopy(ROUTE_BY_TEAM)
    edited["steps"]["hello"]["text"] = "v2"

    response = admin_api.put(f"{API}/workflows/{workflow_id}/", edited, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["has_unpublished_changes"] is True
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.definition["steps"]["hello"]["text"] == "v2"
    assert workflow.published_version.definition["steps"]["hello"]["text"] == ROUTE_BY_TEAM["steps"]["hello"]["text"]


def test_import_with_publish_makes_it_live_in_one_call(admin_api, teams):
    response = admin_api.post(f"{API}/workflows/import/?publish=1", ROUTE_BY_TEAM, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["published_version"] == 1


def test_an_import_that_cannot_be_published_stores_nothing(admin_api):
    # No teams exist, so the assign steps name unknown teams.
    response = admin_api.post(f"{API}/workflows/import/?publish=1", ROUTE_BY_TEAM, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Workflow.objects.exists()


def test_workflows_are_for_administrators_only(alice_api, teams):
    created = alice_api.post(f"{API}/workflows/", ROUTE_BY_TEAM, format="json")
    listed = alice_api.get(f"{API}/workflows/")

    assert (created.status_code, listed.status_code) == (403, 403)
    assert not Workflow.objects.exists()


def test_deleting_a_workflow(admin_api, teams):
    workflow_id = admin_api.post(f"{API}/workflows/import/?publish=1", ROUTE_BY_TEAM, format="json").json()["id"]

    response = admin_api.delete(f"{API}/workflows/{workflow_id}/")

    assert response.status_code == 204
    assert not Workflow.objects.exists()


def test_a_workflow_that_ran_cannot_be_deleted_its_history_stays(admin_api, teams):
    from routing.models import Run
    from tests.factories import ConversationFactory

    workflow_id = admin_api.post(f"{API}/workflows/import/?publish=1", ROUTE_BY_TEAM, format="json").json()["id"]
    workflow = Workflow.objects.get(pk=workflow_id)
    Run.objects.create(workflow=workflow, version=workflow.published_version, conversation=ConversationFactory())

    response = admin_api.delete(f"{API}/workflows/{workflow_id}/")

    assert response.status_code == 409
    assert Workflow.objects.filter(pk=workflow_id).exists()
    assert Run.objects.count() == 1
