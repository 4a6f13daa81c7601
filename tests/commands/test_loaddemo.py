"""``manage.py loaddemo``: a working demo in one command, safe to run again."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from inbox.models import Agent, Channel, Team
from routing.models import Workflow, WorkflowVersion
from routing.services import validate_definition
from routing.workflow_templates import all_templates, load

pytestmark = pytest.mark.django_db

PASSWORD = re.compile(r"User (\w+) .*created; password: (\S+)")


def loaddemo(*args) -> str:
    out = io.StringIO()
    call_command("loaddemo", *args, stdout=out)
    return out.getvalue()


def test_it_creates_teams_users_channels_and_live_workflows():
    output = loaddemo()

    assert set(Team.objects.values_list("name", flat=True)) == {
        "Sales",
        "Support",
        "Billing",
        "Shipping",
        "Soporte ES",
        "Suporte BR",
        "Technical support",
        "VIP",
    }
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    sara = Agent.objects.get(user__username="sara")
    assert sara.availability == "online"
    assert list(sara.teams.values_list("name", flat=True)) == ["Sales"]
    api = Channel.objects.get(name="API")
    assert f"/api/v1/channels/{api.pk}/incoming/" in output
    assert "drf_create_token admin" in output
    workflows = Workflow.objects.select_related("published_version")
    assert workflows.count() == 4  # route by answer on API and Web chat, route by profile, the escalation shortcut
    assert all(w.published_version is not None and w.is_active for w in workflows)


def test_each_password_is_printed_once_and_works():
    first = loaddemo()
    second = loaddemo()

    passwords = dict(PASSWORD.findall(first))
    assert set(passwords) == {"admin", "sara", "sam", "bill", "shay", "sofia", "bruno", "tess", "victor"}
    assert get_user_model().objects.get(username="sara").check_password(passwords["sara"])
    assert not PASSWORD.search(second)
    assert "already exists, password unchanged" in second


def test_running_it_twice_duplicates_nothing():
    loaddemo()
    counts = (
        Team.objects.count(),
        Agent.objects.count(),
        Channel.objects.count(),
        Workflow.objects.count(),
        WorkflowVersion.objects.count(),
    )

    loaddemo("--quiet")

    assert (
        Team.objects.count(),
        Agent.objects.count(),
        Channel.objects.count(),
        Workflow.objects.count(),
        WorkflowVersion.objects.count(),
    ) == counts


def test_quiet_prints_only_new_passwords():
    output = loaddemo("--quiet")

    lines = output.strip().splitlines()
    assert len(lines) == 9
    assert all(PASSWORD.search(line) for line in lines)
    assert loaddemo("--quiet") == ""


def test_the_two_workflows_listen_on_different_channels():
    loaddemo()

    conditions = {
        w.name: w.published_version.definition["trigger"]["conditions"]
        for w in Workflow.objects.select_related("published_version").filter(trigger_type="conversation_opened")
    }

    channels = {
        name: [c["value"] for c in conds if c["field"] == "conversation.channel"] for name, conds in conditions.items()
    }
    assert sorted(channels.values()) == [["API"], ["Web chat"], ["WhatsApp"]]


@pytest.mark.parametrize("template", all_templates(), ids=lambda t: t.slug)
def test_every_template_is_valid_once_loaddemo_created_its_teams(template):
    loaddemo("--quiet")

    assert validate_definition(load(template.slug)) == []
    assert set(template.teams) <= set(Team.objects.values_list("name", flat=True))


def test_the_demo_routes_a_contact_by_their_answer_on_the_api_channel(run_on_commit):
    from inbox import services as inbox

    loaddemo("--quiet")
    api = Channel.objects.get(name="API")

    with run_on_commit(execute=True):
        conversation, _ = inbox.receive_message(api, {"external_id": "demo-1", "name": "Ana"}, "Hello")
    with run_on_commit(execute=True):
        inbox.receive_message(api, {"external_id": "demo-1"}, "3")

    conversation.refresh_from_db()
    outgoing = list(conversation.messages.filter(direction="outgoing").values_list("text", flat=True))
    assert conversation.team.name == "Billing"
    assert conversation.assignee.user.username == "bill"
    assert outgoing[0].startswith("Which team can help you?\n1. Sales")
    assert outgoing[-1] == "You are now with our Billing team. An agent will reply shortly."
    assert conversation.runs.count() == 1  # the profile workflow listens on WhatsApp only


@pytest.mark.parametrize(
    ("contact", "team", "agent"),
    [
        ({"external_id": "demo-2", "phone": "+55 11 91234-5678"}, "Suporte BR", "bruno"),
        ({"external_id": "demo-3", "language": "es"}, "Soporte ES", "sofia"),
        ({"external_id": "demo-4", "language": "en", "country": "GB"}, "Support", "sam"),
    ],
)
def test_the_demo_routes_a_contact_by_profile_on_the_whatsapp_channel(run_on_commit, contact, team, agent):
    from inbox import services as inbox

    loaddemo("--quiet")
    whatsapp = Channel.objects.get(name="WhatsApp")

    with run_on_commit(execute=True):
        conversation, _ = inbox.receive_message(whatsapp, contact, "Hola")

    conversation.refresh_from_db()
    assert (conversation.team.name, conversation.assignee.user.username) == (team, agent)
    assert conversation.messages.filter(direction="outgoing").count() == 1
    assert conversation.runs.count() == 1
