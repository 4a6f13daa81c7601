"""Contacts are found again by id, e-mail or phone, and enriched from the phone and channel."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts import services
from contacts.models import Contact, ContactField
from inbox import services as inbox
from tests.factories import ChannelFactory


def test_country_comes_from_the_phone_calling_code(api_channel):
    conversation, _ = inbox.receive_message(api_channel, {"name": "Ana", "phone": "+34 612 345 678"}, "Hola")
    contact = conversation.contact
    assert (contact.phone, contact.country) == ("+34612345678", "ES")


def test_brazilian_number_gives_brazil(api_channel):
    conversation, _ = inbox.receive_message(api_channel, {"phone": "+55 11 91234-5678"}, "Oi")
    assert conversation.contact.country == "BR"


def test_language_and_country_come_from_the_channel_when_unknown(db):
    channel = ChannelFactory(name="WhatsApp ES", language="es", country="ES")
    conversation, _ = inbox.receive_message(channel, {"external_id": "w1"}, "Hola")
    assert (conversation.contact.language, conversation.contact.country) == ("es", "ES")


def test_given_values_win_over_enrichment(db):
    channel = ChannelFactory(name="WhatsApp ES", language="es", country="ES")
    conversation, _ = inbox.receive_message(channel, {"phone": "+351 912 345 678", "language": "pt"}, "Olá")
    assert (conversation.contact.language, conversation.contact.country) == ("pt", "PT")


def test_a_contact_is_found_again_by_external_id_then_email(api_channel):
    first, _ = inbox.receive_message(api_channel, {"external_id": "42", "email": "Ana@Example.com"}, "1")
    inbox.close_conversation(first)
    second, _ = inbox.receive_message(api_channel, {"email": "ana@example.com", "name": "Ana"}, "2")
    assert second.contact_id == first.contact_id
    assert Contact.objects.get().name == "Ana"


def test_a_contact_without_name_is_fine(api_channel):
    conversation, _ = inbox.receive_message(api_channel, {"external_id": "anon-1"}, "Anonymous hello")
    assert str(conversation.contact) == "anon-1"  # shown by its id when it has no name


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"country": "Spain"}, "country"),
        ({"name": ["list"]}, "name"),
        ({"name": "x" * 300}, "name"),
    ],
)
def test_bad_contact_data_is_refused_and_nothing_is_written(api_channel, data, field):
    with pytest.raises(ValidationError) as refused:
        inbox.receive_message(api_channel, data, "Hello")
    assert field in refused.value.message_dict
    assert not Contact.objects.exists()


def test_custom_fields_must_be_declared(db):
    contact = Contact.objects.create(name="Ana")
    with pytest.raises(ValidationError):
        services.set_field(contact, "plan", "gold")
    ContactField.objects.create(key="plan", label="Plan")
    services.set_field(contact, "plan", "gold")
    assert contact.get_field("plan") == "gold"


def test_a_message_from_nobody_in_particular_is_refused(api_channel):
    with pytest.raises(ValidationError) as refused:
        inbox.receive_message(api_channel, {"name": "Ana"}, "Hello")
    assert "external_id" in refused.value.message_dict
    assert not Contact.objects.exists()


def test_a_message_naming_someone_elses_email_does_not_join_their_conversation(api_channel):
    victim, _ = inbox.receive_message(api_channel, {"external_id": "victim", "email": "v@example.com"}, "Hi")
    other, _ = inbox.receive_message(api_channel, {"external_id": "someone", "email": "v@example.com"}, "Me too")
    assert other.pk != victim.pk
    victim.contact.refresh_from_db()
    assert victim.contact.external_id == "victim"
    assert Contact.objects.count() == 2


def test_without_external_id_the_email_finds_the_contact_and_keeps_its_id(api_channel):
    first, _ = inbox.receive_message(api_channel, {"external_id": "crm-7", "email": "ana@example.com"}, "Hi")
    again, _ = inbox.receive_message(api_channel, {"email": "ana@example.com", "name": "Ana"}, "Again")
    assert again.pk == first.pk
    first.contact.refresh_from_db()
    assert (first.contact.external_id, first.contact.name) == ("crm-7", "Ana")
