"""The team queue: conversations nobody can take now wait, and are handed out oldest first as
soon as an agent comes online or frees capacity; opt-in reassignment when an agent goes offline."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inbox import services
from inbox.models import Agent, Assignment, Conversation
from tests.factories import AgentFactory, ConversationFactory, UserFactory


def queued_in(team, n: int, run_on_commit) -> list[Conversation]:
    conversations = []
    for _ in range(n):
        conversation = ConversationFactory()
        with run_on_commit(execute=True):
            result = services.assign(conversation, team=team, online_only=True)
        assert result.queued
        conversations.append(conversation)
    return conversations


def fresh(*objects):
    for obj in objects:
        obj.refresh_from_db()
    return objects


def test_conversations_nobody_can_take_wait_in_the_queue_in_arrival_order(support, alice, run_on_commit):
    services.set_availability(alice, "offline")
    first, second = queued_in(support, 2, run_on_commit)
    fresh(first, second)
    assert (first.team, first.assignee) == (support, None)
    assert first.queued_at <= second.queued_at
    assert services.queued_team_ids() == [support.pk]


def test_an_agent_coming_online_takes_the_oldest_waiting_first_up_to_capacity(support, alice, run_on_commit):
    services.set_availability(alice, "offline")
    Agent.objects.filter(pk=alice.pk).update(max_open=2)
    first, second, third = queued_in(support, 3, run_on_commit)
    with run_on_commit(execute=True):
        services.set_availability(alice, "online")
    fresh(first, second, third, alice)
    assert [c.assignee for c in (first, second, third)] == [alice, alice, None]
    assert (first.queued_at, third.queued_at is not None, alice.open_count) == (None, True, 2)
    assert "Waited in the queue of Support" in first.assignments.first().reason

    with run_on_commit(execute=True):  # closing one frees capacity: the third is handed out
        services.close_conversation(first)
    fresh(third, alice)
    assert (third.assignee, third.queued_at, alice.open_count) == (alice, None, 2)


def test_a_drain_never_assigns_a_conversation_twice(support, alice, run_on_commit):
    services.set_availability(alice, "offline")
    (waiting,) = queued_in(support, 1, run_on_commit)
    Agent.objects.filter(pk=alice.pk).update(availability="online")
    assert services.drain_queue(support) == 1
    assert services.drain_queue(support) == 0
    assert Assignment.objects.filter(conversation=waiting, agent=alice).count() == 1


def test_capacity_holds_for_an_agent_in_two_teams(support, sales, run_on_commit):
    both = AgentFactory(user=UserFactory(username="both"), teams=[support, sales], max_open=1)
    one, two = ConversationFactory(), ConversationFactory()
    assert services.assign(one, team=sales).agent == both
    result = services.assign(two, team=support)
    assert (result.agent, result.queued) == (None, True)
    fresh(both)
    assert both.open_count == 1


def test_a_named_agent_at_capacity_hands_over_to_the_team(support, alice, run_on_commit):
    helper = AgentFactory(user=UserFactory(username="helper"), teams=[support])
    Agent.objects.filter(pk=alice.pk).update(max_open=1, open_count=1)
    alice.refresh_from_db()
    result = services.assign(ConversationFactory(), agent=alice, team=support)
    assert result.agent == helper
    assert "alice is at capacity (1 open)" in result.detail


def test_teams_that_opt_in_reassign_an_offline_agents_conversations(support, alice, run_on_commit):
    support.reassign_when_offline = True
    support.save()
    colleague = AgentFactory(user=UserFactory(username="colleague"), teams=[support])
    mine = [ConversationFactory() for _ in range(2)]
    for conversation in mine:
        services.assign(conversation, agent=alice, team=support)
    with run_on_commit(execute=True):
        services.set_availability(alice, "offline")
    for conversation in fresh(*mine):
        assert conversation.assignee == colleague
        assert "alice went offline" in conversation.assignments.first().reason
    fresh(alice, colleague)
    assert (alice.open_count, colleague.open_count) == (0, 2)


def test_with_nobody_online_an_offline_agents_conversations_go_back_to_the_queue(support, alice, run_on_commit):
    support.reassign_when_offline = True
    support.save()
    conversation = ConversationFactory()
    services.assign(conversation, agent=alice, team=support)
    with run_on_commit(execute=True):
        services.set_availability(alice, "offline")
    fresh(conversation)
    assert (conversation.assignee, conversation.queued_at is not None) == (None, True)


def test_teams_that_do_not_opt_in_keep_an_offline_agents_conversations(support, alice, run_on_commit):
    AgentFactory(user=UserFactory(username="colleague"), teams=[support])
    conversation = ConversationFactory()
    services.assign(conversation, agent=alice, team=support)
    with run_on_commit(execute=True):
        services.set_availability(alice, "offline")
    fresh(conversation)
    assert conversation.assignee == alice


def test_a_reopened_conversation_whose_agent_is_offline_is_routed_again(support, alice, run_on_commit):
    support.reroute_reopened = True
    support.save()
    colleague = AgentFactory(user=UserFactory(username="colleague"), teams=[support])
    conversation = ConversationFactory()
    services.assign(conversation, agent=alice, team=support)
    with run_on_commit(execute=True):
        services.close_conversation(conversation)
        Agent.objects.filter(pk=alice.pk).update(availability="offline")
        services.reopen_conversation(conversation)
    fresh(conversation, alice, colleague)
    assert conversation.assignee == colleague
    assert (alice.open_count, colleague.open_count) == (0, 1)
    assert "Reopened while alice is not online" in conversation.assignments.first().reason


def test_a_reopened_conversation_stays_with_its_online_agent(support, alice, run_on_commit):
    support.reroute_reopened = True
    support.save()
    conversation = ConversationFactory()
    services.assign(conversation, agent=alice, team=support)
    services.close_conversation(conversation)
    services.reopen_conversation(conversation)
    fresh(conversation, alice)
    assert (conversation.assignee, alice.open_count) == (alice, 1)


def test_agents_idle_in_the_inbox_go_offline_but_api_only_agents_stay(settings, support, alice, bob, run_on_commit):
    settings.AGENT_IDLE_MINUTES = 30
    Agent.objects.filter(pk=alice.pk).update(last_seen_at=timezone.now() - timedelta(minutes=31))
    Agent.objects.filter(pk=bob.pk).update(last_seen_at=None)
    with run_on_commit(execute=True):
        assert services.mark_idle_agents_offline() == 1
    fresh(alice, bob)
    assert (alice.availability, bob.availability) == ("offline", "online")


def test_coming_online_over_the_api_hands_out_the_queue(support, alice, alice_api, run_on_commit):
    services.set_availability(alice, "away")
    (waiting,) = queued_in(support, 1, run_on_commit)
    with run_on_commit(execute=True):
        response = alice_api.patch(f"/api/v1/agents/{alice.pk}/", {"availability": "online"}, format="json")
    assert response.status_code == 200, response.content
    fresh(waiting)
    assert waiting.assignee == alice


def test_naming_the_agent_who_has_it_at_full_capacity_keeps_it_with_them(support, alice, run_on_commit):
    Agent.objects.filter(pk=alice.pk).update(max_open=1)
    conversation = ConversationFactory()
    assert services.assign(conversation, agent=alice, team=support).agent == alice
    alice.refresh_from_db()

    again = services.assign(conversation, agent=alice, team=support)

    assert again.agent == alice
    fresh(alice)
    assert alice.open_count == 1


def test_a_queued_conversation_leaves_the_queue_by_the_rules_that_queued_it(support, alice, run_on_commit):
    busy = AgentFactory(user=UserFactory(username="busy"), teams=[support], availability="offline")
    Agent.objects.filter(pk=alice.pk).update(availability="offline", last_assigned_at=None)
    for _ in range(2):
        services.assign(ConversationFactory(), agent=busy, team=support)  # busy: 2 open, assigned just now
    waiting = ConversationFactory()
    result = services.assign(waiting, team=support, strategy="least_open", online_only=True)
    assert result.queued
    fresh(waiting)
    assert waiting.queue_rules == {"strategy": "least_open", "online_only": True, "on_shift_only": False}

    Agent.objects.filter(pk__in=[alice.pk, busy.pk]).update(availability="online")
    Agent.objects.filter(pk=alice.pk).update(open_count=1, last_assigned_at=timezone.now())
    assert services.drain_queue(support) == 1

    fresh(waiting)
    assert waiting.assignee == alice  # fewest open; round robin would have picked busy (less recent)
    assert (waiting.queued_at, waiting.queue_rules) == (None, {})
