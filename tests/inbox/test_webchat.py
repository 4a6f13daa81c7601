"""The contact web chat: a page per web-chat channel, a signed cookie instead of a login."""

from __future__ import annotations

import pytest
from django.test import Client

from contacts.models import Contact
from inbox import services
from inbox.forms import WEBCHAT_MAX_LENGTH
from inbox.models import Conversation, Message
from routing import services as routing
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

ASK_TEAM = {
    "name": "Ask the team",
    "trigger": {"type": "conversation_opened"},
    "start": "ask",
    "steps": {
        "ask": {
            "type": "ask_question",
            "text": "Which team can help you?",
            "kind": "multiple_choice",
            "options": ["Sales", "Support"],
            "save_as": "team",
            "next": {"success": "assign"},
        },
        "assign": {"type": "assign", "team": "Support", "strategy": "round_robin", "next": "done"},
        "done": {"type": "send_message", "text": "You are now with our {{var.team}} team."},
    },
}


@pytest.fixture
def web(db):
    return ChannelFactory(name="Web", kind="web_chat")


def start(client: Client, channel, *, name="Ana", text="Hello", email=""):
    return client.post(f"/chat/{channel.pk}/", {"name": name, "email": email, "text": text})


def test_only_web_chat_channels_have_a_chat_page(web, api_channel):
    assert Client().get(f"/chat/{web.pk}/").status_code == 200
    assert Client().get(f"/chat/{api_channel.pk}/").status_code == 404


def test_a_visitor_starts_a_conversation_and_is_remembered_by_a_signed_cookie(web):
    client = Client()

    response = start(client, web, name="Ana", email="ana@example.com", text="Hello there")

    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.external_id.startswith("webchat:") and (contact.name, contact.email) == ("Ana", "ana@example.com")
    cookie = client.cookies[f"helpdesk_chat_{web.pk}"]
    assert cookie.value.startswith(f"{contact.external_id}:") and cookie["httponly"]  # value:timestamp:signature
    page = client.get(f"/chat/{web.pk}/")
    assert b"Hello there" in page.content and page.context["contact"] == contact

    client.post(f"/chat/{web.pk}/", {"text": "Are you there?"})
    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("text", flat=True)) == ["Hello there", "Are you there?"]


def test_a_forged_cookie_is_ignored(web):
    start(Client(), web, text="My account number is 42")
    intruder = Client()
    intruder.cookies[f"helpdesk_chat_{web.pk}"] = Contact.objects.get().external_id

    page = intruder.get(f"/chat/{web.pk}/")

    assert page.context["contact"] is None and b"account number" not in page.content


def test_the_visitor_sees_replies_but_never_internal_comments(web, alice):
    client = Client()
    start(client, web)
    conversation = Conversation.objects.get()
    services.send_message(conversation, "Hi Ana, Alice here.", author=alice.user)
    services.add_comment(conversation, "Secret: refund pending", author=alice.user)

    thread = client.get(f"/chat/{web.pk}/thread/", headers={"HX-Request": "true"})

    assert b"Hi Ana, Alice here." in thread.content
    assert b"Secret" not in thread.content


def test_the_options_of_a_waiting_multiple_choice_question_show_as_buttons(web, support, alice, run_on_commit):
    routing.publish(routing.create_workflow(ASK_TEAM))
    client = Client()

    with run_on_commit(execute=True):
        start(client, web)
    page = client.get(f"/chat/{web.pk}/")

    assert page.context["options"] == [("Sales", "Sales"), ("Support", "Support")]
    assert b'<button type="submit" class="option">Support</button>' in page.content

    with run_on_commit(execute=True):
        client.post(f"/chat/{web.pk}/", {"text": "Support"})
    page = client.get(f"/chat/{web.pk}/")

    conversation = Conversation.objects.get()
    assert (conversation.team, conversation.assignee) == (support, alice)
    assert page.context["options"] == []
    assert b"You are now with our Support team." in page.content


def test_a_too_long_message_is_refused_and_nothing_is_stored(web):
    client = Client()
    start(client, web)

    response = client.post(f"/chat/{web.pk}/", {"text": "x" * (WEBCHAT_MAX_LENGTH + 1)})

    assert response.status_code == 400
    assert Message.objects.count() == 1


def test_starting_needs_a_name_and_a_message(web):
    response = start(Client(), web, name="", text="")

    assert response.status_code == 400 and set(response.context["start_form"].errors) == {"name", "text"}
    assert not Contact.objects.exists()


def test_the_chat_needs_the_csrf_token(web):
    response = start(Client(enforce_csrf_checks=True), web)

    assert response.status_code == 403
    assert not Contact.objects.exists()


def test_what_visitors_write_is_escaped(web):
    client = Client()
    start(client, web, name="<script>alert(1)</script>", text="<img src=x onerror=alert(2)>")

    html = client.get(f"/chat/{web.pk}/").content

    assert b"<img src=x" not in html and b"&lt;img src=x onerror=alert(2)&gt;" in html


def test_the_chat_speaks_the_visitors_language(web):
    page = Client().get(f"/chat/{web.pk}/", headers={"Accept-Language": "ru"})

    assert "Начать чат" in page.content.decode()  # "Start the chat"


def test_a_visitor_sending_too_fast_is_told_to_wait_and_nothing_more_is_stored(web, settings):
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 3
    client = Client()
    start(client, web, name="Ana", email="", text="one")
    for text in ("two", "three"):
        assert client.post(f"/chat/{web.pk}/", {"text": text}).status_code == 302

    refused = client.post(f"/chat/{web.pk}/", {"text": "four"})

    assert refused.status_code == 429
    assert "too fast" in refused.content.decode()
    assert list(Message.objects.values_list("text", flat=True)) == ["one", "two", "three"]
