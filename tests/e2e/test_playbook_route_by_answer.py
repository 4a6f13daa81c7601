"""Playbook 1, "Route by the customer's answer", through the REST API and a real worker.

Given Sales, Support and Triage teams with an online agent each, an API channel and the
published workflow below, when a contact writes in, the bot asks which team; the answer
(by text, number, any case or accents) routes the conversation to that team and tells
the contact. Invalid answers are asked again; after the allowed retries the failure path
assigns Triage. Runs finish on the version they started with.
"""

from __future__ import annotations

import copy

import pytest

from tests.e2e import HelpdeskApi, assert_ended_at, outcomes_of, refers_to, step_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]

QUESTION = "Which team do you need? 1. Sales 2. Support"
SORRY = "Sorry, we could not tell which team you need. Our triage team will help you."

# Shaped exactly as SPEC.md "Contract: workflows as JSON".
ROUTE_BY_ANSWER = {
    "name": "Route by team",
    "trigger": {
        "type": "conversation_opened",
        "conditions": [{"field": "conversation.source", "op": "eq", "value": "contact"}],
    },
    "start": "ask",
    "steps": {
        "ask": {
            "type": "ask_question",
            "text": QUESTION,
            "kind": "multiple_choice",
            "options": ["Sales", "Support"],
            "save_as": "team",
            "retries": 2,
            "timeout": 3600,
            "next": {"success": "route", "failure": "fallback", "timeout": "fallback"},
        },
        "route": {
            "type": "branch",
            "branches": [
                {
                    "match": "all",
                    "conditions": [{"field": "var.team", "op": "eq", "value": "Sales"}],
                    "next": "sales",
                },
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
            "online_only": True,
            "next": {"success": "hello", "failure": "fallback"},
        },
        "support": {
            "type": "assign",
            "team": "Support",
            "strategy": "round_robin",
            "online_only": True,
            "next": {"success": "hello", "failure": "fallback"},
        },
        "hello": {"type": "send_message", "text": "You are now with our {{var.team}} team."},
        "fallback": {"type": "assign", "team": "Triage", "strategy": "least_open", "next": {"success": "sorry"}},
        "sorry": {"type": "send_message", "text": SORRY},
    },
}
STEPS = set(ROUTE_BY_ANSWER["steps"])
RETRIES = ROUTE_BY_ANSWER["steps"]["ask"]["retries"]


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


@pytest.fixture
def cast(api: HelpdeskApi) -> dict:
    """Three teams with an online agent each, an API channel, the workflow published."""
    teams = {name: api.create_team(name) for name in ("Sales", "Support", "Triage")}
    agents = {
        "Sales": api.create_agent("sam", ["Sales"]),
        "Support": api.create_agent("sue", ["Support"]),
        "Triage": api.create_agent("tim", ["Triage"]),
    }
    channel = api.create_channel("Website API")
    workflow = api.create_workflow(ROUTE_BY_ANSWER)
    api.publish(workflow["id"])
    return {"teams": teams, "agents": agents, "channel": channel, "workflow": workflow}


def open_conversation(api: HelpdeskApi, cast: dict, external_id: str = "c-1") -> int:
    """A contact writes in; wait for the bot's question. Returns the conversation id."""
    contact = {"external_id": external_id, "name": "Ana Pérez", "email": f"{external_id}@example.com"}
    opened = api.incoming(cast["channel"]["id"], contact, "Hello, I need help")
    conversation_id = opened["conversation"]
    assert api.wait_for_outgoing(conversation_id, 1) == [QUESTION]
    return conversation_id


def answer(api: HelpdeskApi, cast: dict, conversation_id: int, text: str, external_id: str = "c-1") -> None:
    contact = {"external_id": external_id, "name": "Ana Pérez", "email": f"{external_id}@example.com"}
    replied = api.incoming(cast["channel"]["id"], contact, text)
    assert replied["conversation"] == conversation_id, "the answer must append to the open conversation"


def assert_routed_to(api: HelpdeskApi, cast: dict, conversation_id: int, team: str) -> dict:
    conversation = api.conversation(conversation_id)
    assert refers_to(conversation["team"], cast["teams"][team], "name"), conversation
    assert refers_to(conversation["assignee"], cast["agents"][team], "username"), conversation
    assert conversation["status"] == "open", conversation
    return conversation


@pytest.mark.parametrize("reply", ["support", "2", "SÚPPORT"])
def test_it_routes_to_the_team_the_contact_chooses(api: HelpdeskApi, cast: dict, reply: str):
    conversation_id = open_conversation(api, cast)

    answer(api, cast, conversation_id, reply)

    run = api.wait_for_run(conversation_id, "completed")
    assert_routed_to(api, cast, conversation_id, "Support")
    messages = api.messages(conversation_id)
    assert [(m["direction"], m["text"]) for m in messages] == [
        ("incoming", "Hello, I need help"),
        ("outgoing", QUESTION),
        ("incoming", reply),
        ("outgoing", "You are now with our Support team."),
    ]
    assert all(m["created_at"] for m in messages)
    assert refers_to(run["workflow"], cast["workflow"], "name"), run
    assert step_path(run, STEPS) == ["ask", "route", "support", "hello"], run["log"]
    assert_ended_at(run, "hello")
    assert outcomes_of(run, "ask")[-1] == "success"
    assert outcomes_of(run, "support")[-1] == "success"
    assert_ended_at(run, "hello")
    assert all(entry["type"] for entry in run["log"]) and all(entry["at"] for entry in run["log"])


def test_it_routes_sales_by_option_number(api: HelpdeskApi, cast: dict):
    conversation_id = open_conversation(api, cast)

    answer(api, cast, conversation_id, "1")

    run = api.wait_for_run(conversation_id, "completed")
    assert_routed_to(api, cast, conversation_id, "Sales")
    assert api.outgoing(conversation_id)[-1] == "You are now with our Sales team."
    assert step_path(run, STEPS) == ["ask", "route", "sales", "hello"], run["log"]
    assert_ended_at(run, "hello")


def test_an_invalid_answer_is_asked_again_then_routed(api: HelpdeskApi, cast: dict):
    conversation_id = open_conversation(api, cast)

    answer(api, cast, conversation_id, "pizza")
    retry = api.wait_for_outgoing(conversation_id, 2)[1]
    assert retry, "the retry message must not be empty"
    assert api.runs(conversation_id)[0]["status"] == "waiting_answer"
    answer(api, cast, conversation_id, "Support")

    run = api.wait_for_run(conversation_id, "completed")
    assert_routed_to(api, cast, conversation_id, "Support")
    assert api.outgoing(conversation_id) == [QUESTION, retry, "You are now with our Support team."]
    assert step_path(run, STEPS) == ["ask", "route", "support", "hello"], run["log"]
    assert_ended_at(run, "hello")
    assert outcomes_of(run, "ask")[-1] == "success"


def test_after_the_allowed_retries_it_takes_the_failure_path(api: HelpdeskApi, cast: dict):
    conversation_id = open_conversation(api, cast)

    # The first answer and each of the allowed retries fail; the last one ends the question.
    for attempt in range(1, RETRIES + 1):
        answer(api, cast, conversation_id, f"no idea {attempt}")
        api.wait_for_outgoing(conversation_id, 1 + attempt)
        assert api.runs(conversation_id)[0]["status"] == "waiting_answer", f"after invalid answer {attempt}"
    answer(api, cast, conversation_id, "still no idea")

    run = api.wait_for_run(conversation_id, "completed")
    assert_routed_to(api, cast, conversation_id, "Triage")
    outgoing = api.outgoing(conversation_id)
    assert len(outgoing) == 1 + RETRIES + 1, outgoing
    assert outgoing[-1] == SORRY
    assert step_path(run, STEPS) == ["ask", "fallback", "sorry"], run["log"]
    assert_ended_at(run, "sorry")
    assert outcomes_of(run, "ask")[-1] == "failure"


def test_a_run_finishes_on_the_version_it_started_with(api: HelpdeskApi, cast: dict):
    workflow_id = cast["workflow"]["id"]
    conversation_id = open_conversation(api, cast)
    assert api.runs(conversation_id)[0]["status"] == "waiting_answer"

    # While the run waits for the answer, an admin edits the reply and publishes v2.
    v2 = copy.deepcopy(ROUTE_BY_ANSWER)
    v2["steps"]["hello"]["text"] = "The {{var.team}} team (v2) will answer you."
    api.update_workflow(workflow_id, v2)
    api.publish(workflow_id)
    answer(api, cast, conversation_id, "support")

    run = api.wait_for_run(conversation_id, "completed")
    assert api.outgoing(conversation_id)[-1] == "You are now with our Support team."

    # A conversation opened after the publish runs v2.
    later = open_conversation(api, cast, external_id="c-2")
    answer(api, cast, later, "support", external_id="c-2")
    later_run = api.wait_for_run(later, "completed")
    assert api.outgoing(later)[-1] == "The Support team (v2) will answer you."
    assert version_of(run) < version_of(later_run), (run, later_run)


def version_of(run: dict) -> int:
    """The run's version: a number, an id (both grow with each publish) or a nested object."""
    version = run["version"]
    if isinstance(version, dict):
        version = version.get("number", version.get("id"))
    assert isinstance(version, int), run
    return version
