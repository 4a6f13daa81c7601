"""Conversations of the fixed cast, for the API tests."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from inbox.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory

API = "/api/v1"


@pytest.fixture
def support_conversation(support, api_channel) -> Conversation:
    """A Support conversation with one incoming message: alice's team's, not bob's."""
    conversation = ConversationFactory(channel=api_channel, team=support)
    MessageFactory(conversation=conversation, text="My order never came")
    return conversation


@pytest.fixture
def sales_conversation(sales, api_channel) -> Conversation:
    conversation = ConversationFactory(channel=api_channel, team=sales)
    MessageFactory(conversation=conversation, text="How much is it?")
    return conversation


def inbox_counts() -> dict[str, int]:
    """What a refused request must leave as it was."""
    return {
        "contacts": Contact.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }
