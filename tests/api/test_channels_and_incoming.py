"""Channels, and an integration posting contacts' messages to a channel's incoming endpoint."""

from __future__ import annotations

import pytest
from django.test import override_settings

from inbox.models import Channel, Conversation, Message
from tests.api.conftest import API, inbox_counts

ANA = {"external_id": "c-1", "name": "Ana Pérez", "email": "ana@example.com", "phone": "+34 612 345 678"}


def incoming(client, channel, contact, text="Hello", **kwargs):
    return client.post(
        f"{API}/channels/{channel.pk}/incoming/", {"contact": contact, "text": text}, format="json", **kwargs
    )


def test_an_admin_creates_an_api_channel_and_sees_its_secret(admin_api):
    response = admin_api.post(
        f"{API}/channels/",
        {"kind": "api", "name": "Website", "webhook_url": "https://example.com/hook", "language": "es"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    channel = Channel.objects.get(pk=body["id"])
    assert body["webhook_secret"] == channel.webhook_secret
    assert (channel.kind, channel.webhook_url, channel.language) == ("api", "https://example.com/hook", "es")


def test_an_agent_sees_channels_without_their_secret(alice_api, api_channel):
    response = alice_api.get(f"{API}/channels/{api_channel.pk}/")

    assert response.status_code == 200
    assert response.json()["webhook_secret"] is None


def test_a_channel_country_must_be_an_iso_code(admin_api):
    response = admin_api.post(f"{API}/channels/", {"kind": "api", "name": "X", "country": "Spain"}, format="json")

    assert response.status_code == 400
    assert "country" in response.json()


def test_the_first_message_opens_a_conversation_and_the_second_appends_to_it(admin_api, api_channel):
    first = incoming(admin_api, api_channel, ANA, "Hello")
    second = incoming(admin_api, api_channel, ANA, "Anyone there?")

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert first.json()["conversation"] == second.json()["conversation"]
    conversation = Conversation.objects.get(pk=first.json()["conversation"])
    assert list(conversation.messages.values_list("text", flat=True)) == ["Hello", "Anyone there?"]
    assert conversation.contact.email == "ana@example.com"
    assert conversation.contact.country == "ES"  # from the phone's calling code
    assert Message.objects.get(pk=second.json()["message"]).direction == "incoming"


def test_a_bad_email_is_answered_under_contact_and_nothing_is_written(admin_api, api_channel):
    before = inbox_counts()

    response = incoming(admin_api, api_channel, {**ANA, "email": "not-an-email"})

    assert response.status_code == 400
    assert "email" in response.json()["contact"]
    assert inbox_counts() == before


def test_a_contact_field_of_the_wrong_type_is_a_field_error(admin_api, api_channel):
    before = inbox_counts()

    response = incoming(admin_api, api_channel, {**ANA, "name": {"first": "Ana"}})

    assert response.status_code == 400
    assert "name" in response.json()["contact"]
    assert inbox_counts() == before


def test_a_one_megabyte_text_is_refused_and_nothing_is_written(admin_api, api_channel):
    before = inbox_counts()

    response = incoming(admin_api, api_channel, ANA, "x" * 1_000_000)

    assert response.status_code == 400
    assert "text" in response.json()
    assert inbox_counts() == before


def test_a_missing_text_is_refused(admin_api, api_channel):
    response = admin_api.post(f"{API}/channels/{api_channel.pk}/incoming/", {"contact": ANA}, format="json")

    assert response.status_code == 400
    assert "text" in response.json()


def test_malformed_json_is_a_400(admin_api, api_channel):
    before = inbox_counts()

    response = admin_api.post(
        f"{API}/channels/{api_channel.pk}/incoming/", '{"contact": {', content_type="application/json"
    )

    assert response.status_code == 400
    assert inbox_counts() == before


@pytest.mark.parametrize(
    "body",
    ['{"text": "a\\u0000b"}', "[" * 5000 + "]" * 5000, '{"text": "a", "n": 1e999}', '{"text": "\\ud800"}'],
)
def test_json_no_database_could_store_is_a_400(admin_api, api_channel, body):
    response = admin_api.post(f"{API}/channels/{api_channel.pk}/incoming/", body, content_type="application/json")

    assert response.status_code == 400


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_size_limit_is_a_413(admin_api, api_channel):
    before = inbox_counts()

    response = incoming(admin_api, api_channel, ANA, "x" * 2000)

    assert response.status_code == 413
    assert inbox_counts() == before


def test_an_unknown_channel_is_a_404(admin_api, api_channel):
    response = admin_api.post(f"{API}/channels/999999/incoming/", {"contact": ANA, "text": "Hi"}, format="json")

    assert response.status_code == 404


def test_an_agent_may_not_post_as_a_contact(alice_api, api_channel):
    before = inbox_counts()

    response = incoming(alice_api, api_channel, ANA)

    assert response.status_code == 403
    assert inbox_counts() == before


def test_without_a_token_nothing_is_received(client, api_channel):
    response = client.post(
        f"{API}/channels/{api_channel.pk}/incoming/",
        {"contact": ANA, "text": "Hi"},
        content_type="application/json",
    )

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_a_channel_with_conversations_cannot_be_deleted(admin_api, support_conversation):
    response = admin_api.delete(f"{API}/channels/{support_conversation.channel_id}/")

    assert response.status_code == 409
    assert Channel.objects.filter(pk=support_conversation.channel_id).exists()
