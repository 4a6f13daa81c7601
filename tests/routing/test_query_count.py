"""Routing a conversation costs the same number of queries whatever the team's size."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox import services as inbox
from routing import services as routing
from tests.factories import AgentFactory, UserFactory

ROUTE = {
    "name": "Route",
    "trigger": {"type": "conversation_opened"},
    "start": "assign",
    "steps": {
        "assign": {"type": "assign", "team": "Support", "strategy": "least_open", "next": "hello"},
        "hello": {"type": "send_message", "text": "Hello {{contact.name}}, {{conversation.assignee}} is here."},
    },
}


def queries_to_route(channel, run_on_commit, external_id: str) -> int:
    with CaptureQueriesContext(connection) as captured, run_on_commit(execute=True):
        inbox.receive_message(channel, {"external_id": external_id, "name": "Ana"}, "Hi")
    return len(captured)


def test_queries_per_routed_conversation_do_not_grow_with_agents(support, api_channel, run_on_commit):
    routing.publish(routing.create_workflow(ROUTE))
    AgentFactory.create_batch(3, teams=[support])
    queries_to_route(api_channel, run_on_commit, "warm-up")  # first use of the workflow and contact tables
    few = queries_to_route(api_channel, run_on_commit, "a")
    for i in range(40):
        AgentFactory(user=UserFactory(username=f"more{i}"), teams=[support])
    many = queries_to_route(api_channel, run_on_commit, "b")
    assert few == many
