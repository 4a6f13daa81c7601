"""Agents hear of conversations given to them and of comments others write on theirs."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox import notifications, services
from inbox.models import Notification
from tests.factories import AgentFactory, ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_newly_assigned_agent_is_notified(alice, support):
    conversation = ConversationFactory(team=support)

    services.assign(conversation, agent=alice)

    notification = Notification.objects.get()
    assert (notification.recipient, notification.kind, notification.conversation) == (
        alice.user,
        "assigned",
        conversation,
    )
    assert notifications.describe(notification) == (
        f"Conversation #{conversation.pk} with {conversation.contact} was assigned to you."
    )


def test_nobody_is_notified_when_the_assignee_stays_or_leaves(alice, support):
    conversation = ConversationFactory(team=support)
    services.assign(conversation, agent=alice)

    services.assign(conversation, agent=alice)
    services.unassign(conversation)

    assert Notification.objects.count() == 1


def test_the_assignee_hears_of_a_comment_by_automation_or_a_colleague(alice, support):
    colleague = AgentFactory(user=UserFactory(username="carol"), teams=[support])
    conversation = ConversationFactory(team=support, assignee=alice)

    services.add_comment(conversation, "VIP customer", idempotency_key="run:1:3")
    services.add_comment(conversation, "I called them", author=colleague.user)

    texts = list(
        Notification.objects.filter(recipient=alice.user, kind="comment").order_by("id").values_list("text", flat=True)
    )
    assert texts == ["VIP customer", "I called them"]


def test_nobody_is_notified_of_their_own_comment_or_on_an_unassigned_conversation(alice, support):
    assigned = ConversationFactory(team=support, assignee=alice)
    unassigned = ConversationFactory(team=support)

    services.add_comment(assigned, "Note to self", author=alice.user)
    services.add_comment(unassigned, "Anyone?")

    assert not Notification.objects.exists()


def test_notify_is_idempotent_by_key(alice):
    first = notifications.notify(alice.user, "comment", text="Hi", key="run:7:2")
    second = notifications.notify(alice.user, "comment", text="Hi", key="run:7:2")

    assert first is not None and second is None
    assert Notification.objects.count() == 1


def test_unread_count_and_mark_read(alice, support):
    one, two = ConversationFactory(team=support), ConversationFactory(team=support)
    notifications.notify(alice.user, "assigned", conversation=one, text="Ana")
    notifications.notify(alice.user, "assigned", conversation=two, text="Bea")

    assert notifications.unread_count(alice.user) == 2
    assert notifications.mark_read(alice.user, conversation=one) == 1
    assert notifications.unread_count(alice.user) == 1
    assert notifications.mark_read(alice.user) == 1
    assert notifications.unread_count(alice.user) == 0


def test_the_header_bell_shows_the_unread_count_and_opening_the_conversation_reads_it(alice, bob, support):
    conversation = ConversationFactory(team=support)
    services.assign(conversation, agent=alice)
    notifications.notify(bob.user, "comment", text="Not for Alice")
    client = Client()
    client.force_login(alice.user)

    bell = client.get("/inbox/me/notifications/", headers={"HX-Request": "true"})
    client.get(f"/inbox/c/{conversation.pk}/")
    after = client.get("/inbox/me/notifications/")

    assert bell.context["unread_count"] == 1
    assert b'data-unread="1"' in bell.content and b"was assigned to you" in bell.content
    assert b"Not for Alice" not in bell.content
    assert after.context["unread_count"] == 0


def test_mark_all_read_from_the_bell(alice):
    notifications.notify(alice.user, "comment", text="One")
    client = Client()
    client.force_login(alice.user)

    response = client.post("/inbox/me/notifications/read/", headers={"HX-Request": "true"})

    assert response.context["unread_count"] == 0
    assert Notification.objects.get().read_at is not None
