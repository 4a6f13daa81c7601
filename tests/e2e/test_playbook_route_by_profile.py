"""Playbook 2, "Route by contact profile", through the REST API and a real worker.

Given a Spanish team, a Brazilian team and a General team with an online agent each and
the published workflow below, a conversation is assigned by the contact's country and
language: filled from what the contact sends, from the phone number's country code, or
from the channel's language.
"""

from __future__ import annotations

import pytest

from tests.e2e import HelpdeskApi, assert_ended_at, outcomes_of, refers_to, step_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]

# Shaped exactly as SPEC.md "Contract: workflows as JSON".
ROUTE_BY_PROFILE = {
    "name": "Route by contact profile",
    "trigger": {
        "type": "conversation_opened",
        "conditions": [{"field": "conversation.source", "op": "eq", "value": "contact"}],
    },
    "start": "route",
    "steps": {
        "route": {
            "type": "branch",
            "branches": [
                {
                    "match": "any",
                    "conditions": [
                        {"field": "contact.country", "op": "eq", "value": "ES"},
                        {"field": "contact.language", "op": "eq", "value": "es"},
                    ],
                    "next": "spanish",
                },
                {
                    "match": "all",
                    "conditions": [{"field": "contact.country", "op": "eq", "value": "BR"}],
                    "next": "brazil",
                },
            ],
            "else": "general",
        },
        "spanish": {
            "type": "assign",
            "team": "Soporte España",
            "strategy": "least_open",
            "online_only": True,
            "next": {"success": "hola"},
        },
        "hola": {"type": "send_message", "text": "Hola {{contact.name}}, te atiende el equipo de España."},
        "brazil": {
            "type": "assign",
            "team": "Suporte Brasil",
            "strategy": "least_open",
            "online_only": True,
            "next": {"success": "ola"},
        },
        "ola": {"type": "send_message", "text": "Olá {{contact.name}}, a equipe do Brasil vai te atender."},
        "general": {
            "type": "assign",
            "team": "General",
            "strategy": "round_robin",
            "online_only": True,
            "next": {"success": "hello"},
        },
        "hello": {"type": "send_message", "text": "Hello {{contact.name}}, our team will help you."},
    },
}
STEPS = set(ROUTE_BY_PROFILE["steps"])


@pytest.fixture
def api(admin_api) -> HelpdeskApi:
    return HelpdeskApi(admin_api)


@pytest.fixture
def cast(api: HelpdeskApi) -> dict:
    """Three teams with an online agent each, the workflow published; channels per test."""
    teams = {name: api.create_team(name) for name in ("Soporte España", "Suporte Brasil", "General")}
    agents = {
        "Soporte España": api.create_agent("elena", ["Soporte España"]),
        "Suporte Brasil": api.create_agent("joao", ["Suporte Brasil"]),
        "General": api.create_agent("gary", ["General"]),
    }
    workflow = api.create_workflow(ROUTE_BY_PROFILE)
    api.publish(workflow["id"])
    return {"teams": teams, "agents": agents, "workflow": workflow}


def write_in(api: HelpdeskApi, channel: dict, contact: dict) -> tuple[int, dict]:
    """The contact writes; wait for the run to complete. Returns the conversation id and run."""
    opened = api.incoming(channel["id"], contact, "Hi")
    conversation_id = opened["conversation"]
    return conversation_id, api.wait_for_run(conversation_id, "completed")


def assert_routed_to(api: HelpdeskApi, cast: dict, conversation_id: int, team: str) -> None:
    conversation = api.conversation(conversation_id)
    assert refers_to(conversation["team"], cast["teams"][team], "name"), conversation
    assert refers_to(conversation["assignee"], cast["agents"][team], "username"), conversation


def test_a_spanish_phone_number_routes_to_the_spanish_team(api: HelpdeskApi, cast: dict):
    channel = api.create_channel("Website API")
    contact = {"external_id": "c-es", "name": "Lucía", "phone": "+34 612 345 678"}

    conversation_id, run = write_in(api, channel, contact)

    assert_routed_to(api, cast, conversation_id, "Soporte España")
    assert api.outgoing(conversation_id) == ["Hola Lucía, te atiende el equipo de España."]
    assert step_path(run, STEPS) == ["route", "spanish", "hola"], run["log"]
    assert_ended_at(run, "hola")
    assert outcomes_of(run, "spanish")[-1] == "success"


def test_the_channel_language_routes_to_the_spanish_team(api: HelpdeskApi, cast: dict):
    channel = api.create_channel("Web ES", language="es")
    contact = {"external_id": "c-lang", "name": "Pablo"}

    conversation_id, run = write_in(api, channel, contact)

    assert_routed_to(api, cast, conversation_id, "Soporte España")
    assert step_path(run, STEPS) == ["route", "spanish", "hola"], run["log"]
    assert_ended_at(run, "hola")


def test_a_brazilian_contact_routes_to_the_brazilian_team(api: HelpdeskApi, cast: dict):
    channel = api.create_channel("Website API")
    contact = {"external_id": "c-br", "name": "João", "country": "BR", "language": "pt"}

    conversation_id, run = write_in(api, channel, contact)

    assert_routed_to(api, cast, conversation_id, "Suporte Brasil")
    assert api.outgoing(conversation_id) == ["Olá João, a equipe do Brasil vai te atender."]
    assert step_path(run, STEPS) == ["route", "brazil", "ola"], run["log"]
    assert_ended_at(run, "ola")


def test_anyone_else_goes_to_the_general_team(api: HelpdeskApi, cast: dict):
    channel = api.create_channel("Website API")
    contact = {"external_id": "c-us", "name": "Gina", "phone": "+1 202 555 0143", "language": "en"}

    conversation_id, run = write_in(api, channel, contact)

    assert_routed_to(api, cast, conversation_id, "General")
    assert api.outgoing(conversation_id) == ["Hello Gina, our team will help you."]
    assert step_path(run, STEPS) == ["route", "general", "hello"], run["log"]
    assert_ended_at(run, "hello")
