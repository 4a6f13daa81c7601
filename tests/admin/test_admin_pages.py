"""Every admin page an administrator opens renders, and user data is shown escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import Assignment, Delivery
from routing import services
from routing.models import Run, RunLog, Timer, WorkflowVersion
from tests.factories import (
    AgentFactory,
    ChannelFactory,
    ContactFactory,
    ConversationFactory,
    MessageFactory,
    TeamFactory,
    UserFactory,
    WorkflowFactory,
)

pytestmark = pytest.mark.django_db


def make_world(user, suffix: str = "") -> dict:
    """One of everything, linked the way the engine links them."""
    from django.utils import timezone

    from contacts.models import ContactField

    support = TeamFactory(name=f"Support{suffix}")
    agent = AgentFactory(user=UserFactory(username=f"alice{suffix}"), teams=[support])
    channel = ChannelFactory(name=f"API{suffix}", webhook_url="https://example.com/hook")
    conversation = ConversationFactory(channel=channel, team=support, assignee=agent)
    message = MessageFactory(conversation=conversation, direction="outgoing", text="Hi there")
    assignment = Assignment.objects.create(conversation=conversation, team=support, agent=agent, reason="test")
    delivery = Delivery.objects.create(message=message, url=channel.webhook_url, next_attempt_at=timezone.now())
    workflow = WorkflowFactory(name=f"Greeter{suffix}")
    version = services.publish(workflow, user=user)
    run = Run.objects.create(workflow=workflow, version=version, conversation=conversation, current_step="hello")
    log = RunLog.objects.create(run=run, seq=1, step="hello", step_type="send_message", outcome="success")
    timer = Timer.objects.create(run=run, kind="wait", seq=1, due_at=timezone.now())
    field = ContactField.objects.create(key=f"plan{suffix}", label="Plan")
    return {
        "contacts.contactfield": field,
        "contacts.contact": conversation.contact,
        "inbox.team": support,
        "inbox.agent": agent,
        "inbox.channel": channel,
        "inbox.conversation": conversation,
        "inbox.message": message,
        "inbox.assignment": assignment,
        "inbox.delivery": delivery,
        "routing.workflow": workflow,
        "routing.workflowversion": version,
        "routing.run": run,
        "routing.runlog": log,
        "routing.timer": timer,
    }


@pytest.fixture
def world(admin_user):
    return make_world(admin_user)


MODELS = [
    "contacts.contactfield",
    "contacts.contact",
    "inbox.team",
    "inbox.agent",
    "inbox.channel",
    "inbox.conversation",
    "inbox.message",
    "inbox.assignment",
    "inbox.delivery",
    "routing.workflow",
    "routing.workflowversion",
    "routing.run",
    "routing.runlog",
    "routing.timer",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_page_render_for_a_superuser(admin_client, world, model):
    app_label, model_name = model.split(".")
    obj = world[model]

    changelist = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    change = admin_client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))

    assert changelist.status_code == 200
    assert change.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(admin_client, admin_user, world, model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    for n in range(3):
        make_world(admin_user, suffix=f"-{n}")

    with CaptureQueriesContext(connection) as more_rows:
        admin_client.get(url)

    # Filters list each team/channel/agent, not a query per row.
    assert len(more_rows) == len(one_row), [q["sql"] for q in more_rows.captured_queries]


@pytest.mark.parametrize(
    "model",
    ["contacts.contactfield", "contacts.contact", "inbox.team", "inbox.agent", "inbox.channel", "routing.workflow"],
)
def test_add_page_renders_for_editable_models(admin_client, model):
    app_label, model_name = model.split(".")

    response = admin_client.get(reverse(f"admin:{app_label}_{model_name}_add"))

    assert response.status_code == 200


def test_changelist_filters_render(admin_client, world):
    conversation = world["inbox.conversation"]

    response = admin_client.get(
        reverse("admin:inbox_conversation_changelist"),
        {"status": "open", "assignee": str(conversation.assignee_id), "q": conversation.contact.name},
    )

    assert response.status_code == 200
    assert f"#{conversation.pk}" in response.content.decode() or str(conversation.pk) in response.content.decode()


def test_conversation_page_shows_its_messages_and_links_its_runs(admin_client, world):
    conversation, run = world["inbox.conversation"], world["routing.run"]

    response = admin_client.get(reverse("admin:inbox_conversation_change", args=[conversation.pk]))

    body = response.content.decode()
    assert "Hi there" in body
    assert reverse("admin:routing_run_change", args=[run.pk]) in body


def test_run_page_shows_the_run_log(admin_client, world):
    run = world["routing.run"]
    RunLog.objects.create(
        run=run, seq=2, step="ask", step_type="ask_question", outcome="timeout", detail="No answer within 3600 seconds."
    )

    response = admin_client.get(reverse("admin:routing_run_change", args=[run.pk]))

    assert "No answer within 3600 seconds." in response.content.decode()


def test_a_contact_name_with_html_is_escaped_in_the_changelist(admin_client):
    ContactFactory(name="<script>alert(1)</script>")

    response = admin_client.get(reverse("admin:contacts_contact_changelist"))

    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_workflow_name_with_html_is_escaped_on_its_pages(admin_client, admin_user):
    workflow = WorkflowFactory(name="<b>bold</b>")
    workflow.definition["steps"]["hello"]["text"] = "<img src=x onerror=alert(1)>"
    workflow.save()
    version = services.publish(workflow, user=admin_user)

    pages = [
        admin_client.get(reverse("admin:routing_workflow_changelist")),
        admin_client.get(reverse("admin:routing_workflow_change", args=[workflow.pk])),
        admin_client.get(reverse("admin:routing_workflowversion_change", args=[version.pk])),
    ]

    for page in pages:
        body = page.content.decode()
        assert "<b>bold</b>" not in body
        assert "<img src=x" not in body


def test_setting_agents_online_goes_through_the_action(admin_client, support):
    agent = AgentFactory(user=UserFactory(username="olga"), teams=[support], availability="offline")

    response = admin_client.post(
        reverse("admin:inbox_agent_changelist"),
        {"action": "set_online", "_selected_action": [agent.pk]},
        follow=True,
    )

    agent.refresh_from_db()
    assert response.status_code == 200
    assert agent.availability == "online"


def test_a_channel_secret_cannot_be_edited_after_creation(admin_client):
    channel = ChannelFactory(name="Web")
    secret = channel.webhook_secret

    response = admin_client.post(
        reverse("admin:inbox_channel_change", args=[channel.pk]),
        {"kind": "api", "name": "Web", "webhook_url": "", "language": "", "country": "", "webhook_secret": "x"},
    )

    channel.refresh_from_db()
    assert response.status_code == 302
    assert channel.webhook_secret == secret


def test_assigning_in_the_admin_keeps_open_counts(admin_client, support):
    alice = AgentFactory(user=UserFactory(username="alice2"), teams=[support])
    bob = AgentFactory(user=UserFactory(username="bob2"), teams=[support])
    conversation = ConversationFactory(team=support)
    from inbox import services as inbox_services

    inbox_services.assign(conversation, agent=alice)

    response = admin_client.post(
        reverse("admin:inbox_conversation_change", args=[conversation.pk]),
        {
            "contact": conversation.contact_id,
            "channel": conversation.channel_id,
            "source": "contact",
            "status": "open",
            "team": support.pk,
            "assignee": bob.pk,
            **_empty_inlines(),
        },
    )

    alice.refresh_from_db()
    bob.refresh_from_db()
    conversation.refresh_from_db()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert conversation.assignee == bob
    assert (alice.open_count, bob.open_count) == (0, 1)
    assert conversation.assignments.filter(agent=bob).exists()


def _empty_inlines() -> dict[str, str]:
    data = {}
    for prefix in ("messages", "assignments", "runs"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_the_conversation_page_does_not_query_per_agent(admin_client, admin_user, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("admin:inbox_conversation_change", args=[world["inbox.conversation"].pk])
    with CaptureQueriesContext(connection) as before:
        admin_client.get(url)
    for n in range(3):
        AgentFactory(user=UserFactory(username=f"extra{n}"))

    with django_assert_max_num_queries(len(before)):
        admin_client.get(url)


def test_a_published_workflow_without_runs_can_be_deleted_with_its_versions(admin_client, admin_user):
    workflow = WorkflowFactory(name="Old")
    services.publish(workflow, user=admin_user)

    confirm = admin_client.get(reverse("admin:routing_workflow_delete", args=[workflow.pk]))
    response = admin_client.post(reverse("admin:routing_workflow_delete", args=[workflow.pk]), {"post": "yes"})

    assert not confirm.context["perms_lacking"]
    assert response.status_code == 302
    assert not WorkflowVersion.objects.exists()


def test_a_workflow_with_runs_is_kept_for_their_history(admin_client, world):
    workflow = world["routing.workflow"]

    confirm = admin_client.get(reverse("admin:routing_workflow_delete", args=[workflow.pk]))

    assert confirm.context["protected"]
    assert not confirm.context["perms_lacking"]


def test_closing_in_the_admin_goes_through_the_inbox(admin_client, support):
    from inbox import services as inbox_services

    agent = AgentFactory(user=UserFactory(username="carol"), teams=[support])
    conversation = ConversationFactory(team=support)

    inbox_services.assign(conversation, agent=agent)  # counts the open conversation
    agent.refresh_from_db()
    assert agent.open_count == 1

    admin_client.post(
        reverse("admin:inbox_conversation_change", args=[conversation.pk]),
        {
            "contact": conversation.contact_id,
            "channel": conversation.channel_id,
            "source": "contact",
            "status": "closed",
            "team": conversation.team_id,
            "assignee": agent.pk,
            **_empty_inlines(),
        },
    )

    conversation.refresh_from_db()
    agent.refresh_from_db()
    assert conversation.status == "closed"
    assert conversation.closed_at is not None
    assert agent.open_count == 0
