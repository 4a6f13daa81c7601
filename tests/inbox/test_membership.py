"""An agent's team memberships carry copies of what picking sorts on; the database keeps them
equal to the agent, whatever changes the agent: services, the admin, bulk updates."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox import services
from inbox.models import Agent, Membership
from tests.factories import AgentFactory, ConversationFactory, UserFactory


def copies(agent: Agent) -> set[tuple]:
    return set(Membership.objects.filter(agent=agent).values_list("team__name", "online", "can_take", "open_count"))


def test_a_new_membership_starts_with_the_agents_state(support, sales):
    agent = AgentFactory(user=UserFactory(username="dual"), availability="online", max_open=2)
    agent.teams.add(support)
    Membership.objects.create(agent=agent, team=sales)
    assert copies(agent) == {("Support", True, True, 0), ("Sales", True, True, 0)}


def test_assignments_availability_and_capacity_are_copied_to_every_team(support, sales, run_on_commit):
    agent = AgentFactory(user=UserFactory(username="dual"), teams=[support, sales], max_open=1)
    conversation = ConversationFactory()
    services.assign(conversation, agent=agent)
    assert copies(agent) == {("Support", True, False, 1), ("Sales", True, False, 1)}
    last = Agent.objects.get(pk=agent.pk).last_assigned_at
    assert set(Membership.objects.filter(agent=agent).values_list("last_assigned_at", flat=True)) == {last}

    with run_on_commit(execute=True):
        services.close_conversation(conversation)
        services.set_availability(agent, "away")
    assert copies(agent) == {("Support", False, True, 0), ("Sales", False, True, 0)}


def test_bulk_updates_and_saves_keep_the_copies(support):
    agent = AgentFactory(user=UserFactory(username="solo"), teams=[support])
    Agent.objects.filter(pk=agent.pk).update(availability="offline", max_open=0)
    assert copies(agent) == {("Support", False, False, 0)}

    agent.refresh_from_db()
    agent.availability, agent.max_open = "online", None
    agent.save()
    assert copies(agent) == {("Support", True, True, 0)}


def test_a_deactivated_user_is_never_picked(support):
    agent = AgentFactory(user=UserFactory(username="gone"), teams=[support])
    agent.user.is_active = False
    agent.user.save()
    assert copies(agent) == {("Support", True, False, 0)}
    assert services.pick_agent(support, strategy="round_robin", online_only=False) is None


@pytest.mark.parametrize("strategy", ["round_robin", "least_open"])
def test_picking_costs_one_query_whatever_the_team_size(support, strategy):
    def pick_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert services.pick_agent(support, strategy=strategy, online_only=True) is not None
        return len(queries)

    AgentFactory(user=UserFactory(username="first"), teams=[support])
    few = pick_queries()
    for n in range(30):
        AgentFactory(user=UserFactory(username=f"a{n}"), teams=[support])
    assert pick_queries() == few == 1
