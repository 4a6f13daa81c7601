"""Editing workflows in the admin: drafts as JSON, Save and publish, actions, templates."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from routing import services
from routing.models import Workflow, WorkflowVersion
from tests.factories import TeamFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def definition(**overrides):
    base = {
        "name": "Greeter",
        "trigger": {"type": "conversation_opened"},
        "start": "hello",
        "steps": {"hello": {"type": "send_message", "text": "Hello!"}},
    }
    return {**base, **overrides}


def post_change(client, workflow, text, **extra):
    data = {
        "definition": text,
        "is_active": "on",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **extra,
    }
    return client.post(reverse("admin:routing_workflow_change", args=[workflow.pk]), data, follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_change_page_shows_the_draft_as_indented_json(admin_client):
    workflow = WorkflowFactory(name="Greeter")

    response = admin_client.get(reverse("admin:routing_workflow_change", args=[workflow.pk]))

    body = response.content.decode()
    assert 'class="json-editor' in body
    assert "&quot;steps&quot;: {\n" in body
    assert 'name="_publish"' in body


def test_saving_invalid_json_shows_an_error_and_changes_nothing(admin_client):
    workflow = WorkflowFactory(name="Greeter")
    before = workflow.definition

    response = post_change(admin_client, workflow, '{"name": "Greeter",\n  "steps": }')

    workflow.refresh_from_db()
    assert response.status_code == 200
    assert "Invalid JSON at line 2, column" in response.content.decode()
    assert workflow.definition == before


def test_saving_a_definition_without_steps_shows_an_error_and_changes_nothing(admin_client):
    workflow = WorkflowFactory(name="Greeter")
    before = workflow.definition

    response = post_change(admin_client, workflow, json.dumps({"name": "Greeter", "steps": []}))

    workflow.refresh_from_db()
    assert "&#x27;steps&#x27; must be an object" in response.content.decode()
    assert workflow.definition == before


def test_saving_stores_the_draft_without_publishing(admin_client):
    workflow = WorkflowFactory(name="Greeter")
    new = definition(name="Greeter 2", steps={"hello": {"type": "send_message", "text": "Hi!"}})

    response = post_change(admin_client, workflow, json.dumps(new), _save="Save")

    workflow.refresh_from_db()
    assert response.status_code == 200
    assert workflow.definition == new
    assert workflow.name == "Greeter 2"
    assert workflow.published_version is None


def test_save_and_publish_with_a_dangling_next_names_the_step_and_publishes_nothing(admin_client):
    workflow = WorkflowFactory(name="Greeter")
    broken = definition(steps={"hello": {"type": "send_message", "text": "Hi", "next": "nowhere"}})

    response = post_change(admin_client, workflow, json.dumps(broken), _publish="Save and publish")

    workflow.refresh_from_db()
    errors = " ".join(messages_of(response))
    assert "hello" in errors
    assert "nowhere" in errors
    assert not WorkflowVersion.objects.filter(workflow=workflow).exists()
    assert workflow.published_version is None


def test_save_and_publish_with_a_valid_draft_makes_version_1(admin_client, admin_user):
    workflow = WorkflowFactory(name="Greeter")

    response = post_change(admin_client, workflow, json.dumps(definition()), _publish="Save and publish")

    workflow.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("admin:routing_workflow_change", args=[workflow.pk])
    assert workflow.published_version.number == 1
    assert workflow.published_version.published_by == admin_user
    assert not workflow.has_unpublished_changes


def test_adding_a_workflow_pasted_as_json_creates_a_draft(admin_client):
    response = admin_client.post(
        reverse("admin:routing_workflow_add"),
        {
            "definition": json.dumps(definition(name="Imported")),
            "is_active": "on",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert workflow.name == "Imported"
    assert workflow.published_version is None


def test_adding_with_save_and_publish_goes_live(admin_client):
    admin_client.post(
        reverse("admin:routing_workflow_add"),
        {
            "definition": json.dumps(definition(name="Live one")),
            "is_active": "on",
            "_publish": "1",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    workflow = Workflow.objects.get()
    assert workflow.published_version.number == 1


def test_publish_action_publishes_valid_and_reports_invalid(admin_client):
    good = WorkflowFactory(name="Good")
    bad = WorkflowFactory(name="Bad", definition=definition(name="Bad", start="missing"))

    response = admin_client.post(
        reverse("admin:routing_workflow_changelist"),
        {"action": "publish_selected", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.published_version is not None
    assert bad.published_version is None
    assert any("missing" in m for m in messages_of(response))


def test_validate_action_reports_per_workflow(admin_client):
    good = WorkflowFactory(name="Good")
    bad = WorkflowFactory(name="Bad", definition=definition(name="Bad", steps={"hello": {"type": "teleport"}}))

    response = admin_client.post(
        reverse("admin:routing_workflow_changelist"),
        {"action": "validate_selected", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    found = messages_of(response)
    assert any("Good" in m and "valid" in m for m in found)
    assert any("Bad" in m and "hello" in m for m in found)
    assert not WorkflowVersion.objects.exists()


def test_export_action_downloads_importable_json(admin_client):
    workflow = WorkflowFactory(name="Greeter")

    response = admin_client.post(
        reverse("admin:routing_workflow_changelist"),
        {"action": "export_json", "_selected_action": [workflow.pk]},
    )

    assert response["Content-Type"].startswith("application/json")
    assert 'filename="greeter.json"' in response["Content-Disposition"]
    assert json.loads(response.content) == services.export_workflow(workflow)


def test_the_changelist_links_to_create_from_template(admin_client):
    response = admin_client.get(reverse("admin:routing_workflow_changelist"))

    assert reverse("admin:routing_workflow_templates") in response.content.decode()


def test_the_template_page_lists_templates_and_the_teams_they_need(admin_client):
    TeamFactory(name="Sales")

    response = admin_client.get(reverse("admin:routing_workflow_templates"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Route by the customer&#x27;s answer" in body
    assert "Route by contact profile" in body
    assert 'value="route_by_answer"' in body
    assert "Support, Billing, Shipping" in body  # missing teams; Sales exists


def test_creating_from_a_template_makes_a_draft_and_opens_it(admin_client):
    response = admin_client.post(reverse("admin:routing_workflow_templates"), {"template": "route_by_answer"})

    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:routing_workflow_change", args=[workflow.pk])
    assert workflow.published_version is None
    assert workflow.definition["steps"]["ask_team"]["type"] == "ask_question"


def test_an_unknown_template_creates_nothing(admin_client):
    response = admin_client.post(reverse("admin:routing_workflow_templates"), {"template": "nope"}, follow=True)

    assert response.status_code == 200
    assert not Workflow.objects.exists()


def test_the_template_page_is_for_staff_only(client, alice):
    client.force_login(alice.user)

    response = client.get(reverse("admin:routing_workflow_templates"))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_unticking_active_is_saved_with_the_draft(admin_client):
    workflow = WorkflowFactory(name="Greeter")

    admin_client.post(
        reverse("admin:routing_workflow_change", args=[workflow.pk]),
        {"definition": json.dumps(definition()), "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"},
    )

    workflow.refresh_from_db()
    assert workflow.is_active is False


def test_save_and_publish_with_invalid_json_publishes_nothing(admin_client):
    workflow = WorkflowFactory(name="Greeter")

    response = post_change(admin_client, workflow, "{not json", _publish="Save and publish")

    assert "Invalid JSON at line 1, column 2" in response.content.decode()
    assert not WorkflowVersion.objects.exists()
