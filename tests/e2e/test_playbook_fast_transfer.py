"""Playbook 5, "Transfer quickly between agents", from its one-click template, with a real worker.

The template waits 15 minutes; these tests shorten the wait to 2 seconds (the durable timer
is the same row either way) instead of sleeping for minutes.
"""

from __future__ import annotations

import pytest

from inbox.models import Message
from routing.workflow_templates import load
from tests.e2e import HelpdeskApi, refers_to, step_path, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]

STEPS = set(load("fast_transfer")["steps"])


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


def first_assignee(api: HelpdeskApi, conversation_id: int) -> dict:
    return wait_for(lambda: api.conversation(conversation_id)["assignee"], what="the first assignment")


@pytest.fixture
def cast(api: HelpdeskApi) -> dict:
    api.create_team("Support")
    agents = {name: api.create_agent(name, ["Support"]) for name in ("ana", "ben")}
    definition = load("fast_transfer")
    assert definition["steps"]["wait"]["seconds"] == 900
    definition["steps"]["wait"]["seconds"] = 2
    workflow = api.create_workflow(definition)
    api.publish(workflow["id"])
    return {"channel": api.create_channel("Web"), **agents}


def test_an_unanswered_conversation_moves_to_another_online_agent_with_a_note(api: HelpdeskApi, cast: dict):
    opened = api.incoming(cast["channel"]["id"], {"external_id": "c1", "name": "Marta"}, "Hola")
    conversation_id = opened["conversation"]
    first = first_assignee(api, conversation_id)
    assert refers_to(first, cast["ana"], "username") or refers_to(first, cast["ben"], "username")

    run = api.wait_for_run(conversation_id, timeout=20)

    assert step_path(run, STEPS) == ["assign", "wait", "check", "transfer", "note"], run["log"]
    second = api.conversation(conversation_id)["assignee"]
    other = cast["ben"] if refers_to(first, cast["ana"], "username") else cast["ana"]
    assert refers_to(second, other, "username"), (first, second)
    comments = [m for m in api.messages(conversation_id) if m["direction"] == "comment"]
    assert [c["text"] for c in comments] == ["Transferred to you: nobody had answered Marta within 15 minutes."]
    assert Message.objects.filter(conversation=conversation_id, direction="comment").count() == 1


def test_a_conversation_an_agent_answered_stays_with_them(api: HelpdeskApi, cast: dict):
    opened = api.incoming(cast["channel"]["id"], {"external_id": "c2", "name": "Luis"}, "Hola")
    conversation_id = opened["conversation"]
    first = first_assignee(api, conversation_id)
    api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": "Hi Luis, I'm on it."})

    run = api.wait_for_run(conversation_id, timeout=20)

    assert step_path(run, STEPS) == ["assign", "wait", "check"], run["log"]
    assert api.conversation(conversation_id)["assignee"] == first


def test_with_nobody_else_online_the_conversation_stays_and_the_log_says_why(api: HelpdeskApi, cast: dict):
    api.patch(f"/api/v1/agents/{cast['ben']['id']}/", {"availability": "offline"})
    opened = api.incoming(cast["channel"]["id"], {"external_id": "c3", "name": "Eva"}, "Hola")
    conversation_id = opened["conversation"]

    run = api.wait_for_run(conversation_id, timeout=20)

    assert step_path(run, STEPS) == ["assign", "wait", "check", "transfer", "nobody_else"], run["log"]
    assert refers_to(api.conversation(conversation_id)["assignee"], cast["ana"], "username")
    transfer = [e for e in run["log"] if e["step"] == "transfer"][-1]
    assert transfer["detail"] == "Nobody else in Support can take it now (only online agents). It stays with ana."
    comments = [m["text"] for m in api.messages(conversation_id) if m["direction"] == "comment"]
    assert comments == ["Eva has waited 15 minutes without an answer, and no other agent is online to take over."]
