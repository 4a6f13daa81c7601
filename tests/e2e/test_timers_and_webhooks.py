"""Delayed work and outgoing webhooks, through the API and a real worker with beat.

A question that gets no answer times out on a durable timer fired by the worker; every
outgoing message of an API channel reaches its webhook once, signed with the channel's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from routing.models import Timer
from tests.e2e import HelpdeskApi, outcomes_of, wait_for, webhook_receiver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


@pytest.fixture
def hook():
    """A real HTTP server on localhost standing in for the integrator's webhook endpoint."""
    with webhook_receiver() as (url, received):
        yield f"{url}/hook", received


def test_an_unanswered_question_times_out_and_takes_the_timeout_path(api: HelpdeskApi):
    api.create_team("Support")
    api.create_agent("sue", ["Support"])
    channel = api.create_channel("Timeouts")
    workflow = api.create_workflow(
        {
            "name": "Quick question",
            "trigger": {"type": "conversation_opened"},
            "start": "ask",
            "steps": {
                "ask": {
                    "type": "ask_question",
                    "text": "Order number?",
                    "kind": "number",
                    "timeout": 1,
                    "next": {"success": "thanks", "timeout": "handover"},
                },
                "thanks": {"type": "send_message", "text": "Thanks!"},
                "handover": {"type": "assign", "team": "Support", "next": "sorry"},
                "sorry": {"type": "send_message", "text": "No problem, an agent will take it from here."},
            },
        }
    )
    api.publish(workflow["id"])

    conversation_id = api.incoming(channel["id"], {"external_id": "t-1"}, "Hi")["conversation"]

    run = api.wait_for_run(conversation_id, "completed", timeout=15)
    assert outcomes_of(run, "ask") == ["waiting", "timeout"]
    assert api.outgoing(conversation_id) == ["Order number?", "No problem, an agent will take it from here."]
    assert api.conversation(conversation_id)["assignee"] == "sue"
    assert Timer.objects.get().fired_at is not None


def test_outgoing_messages_reach_the_webhook_once_and_signed(api: HelpdeskApi, hook):
    url, received = hook
    channel = api.create_channel("Shop", webhook_url=url)
    secret = channel["webhook_secret"]
    workflow = api.create_workflow(
        {
            "name": "Greet",
            "trigger": {"type": "conversation_opened"},
            "start": "hi",
            "steps": {"hi": {"type": "send_message", "text": "Hola {{contact.name}} 👋"}},
        }
    )
    api.publish(workflow["id"])

    conversation_id = api.incoming(channel["id"], {"external_id": "w-1", "name": "Ana"}, "Hi")["conversation"]

    wait_for(lambda: received, what="the webhook POST")
    api.wait_for_run(conversation_id, "completed")
    ((headers, body),) = received
    assert headers["X-Helpdesk-Signature"] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert (payload["event"], payload["conversation"]) == ("message.outgoing", conversation_id)
    assert payload["message"]["text"] == "Hola Ana 👋"
