"""Contacts: administrators see and change all; agents see those of their conversations."""

from __future__ import annotations

from contacts.models import Contact, ContactField
from tests.api.conftest import API
from tests.factories import ContactFactory


def test_an_agent_sees_only_contacts_of_conversations_it_can_see(alice_api, support_conversation, sales_conversation):
    listed = alice_api.get(f"{API}/contacts/")
    other = alice_api.get(f"{API}/contacts/{sales_conversation.contact_id}/")

    assert [c["id"] for c in listed.json()["results"]] == [support_conversation.contact_id]
    assert other.status_code == 404


def test_an_admin_sees_every_contact(admin_api, support_conversation):
    lonely = ContactFactory()

    listed = admin_api.get(f"{API}/contacts/")

    assert {c["id"] for c in listed.json()["results"]} == {support_conversation.contact_id, lonely.pk}


def test_an_admin_changes_a_contact(admin_api):
    contact = ContactFactory(name="Ana")
    ContactField.objects.create(key="plan", label="Plan")

    response = admin_api.patch(
        f"{API}/contacts/{contact.pk}/",
        {"email": "ANA@example.com", "country": "br", "fields": {"plan": "gold"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert (contact.email, contact.country, contact.fields) == ("ana@example.com", "BR", {"plan": "gold"})


def test_a_bad_change_to_a_contact_changes_nothing(admin_api):
    contact = ContactFactory(name="Ana", email="ana@example.com")

    response = admin_api.patch(
        f"{API}/contacts/{contact.pk}/", {"name": "Anna", "email": "nope", "fields": {"undeclared": 1}}, format="json"
    )

    assert response.status_code == 400
    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Ana", "ana@example.com")


def test_a_taken_external_id_is_a_400(admin_api):
    ContactFactory(external_id="taken")
    contact = ContactFactory(external_id="mine")

    response = admin_api.patch(f"{API}/contacts/{contact.pk}/", {"external_id": "taken"}, format="json")

    assert response.status_code == 400
    assert "external_id" in response.json()
    assert Contact.objects.get(pk=contact.pk).external_id == "mine"


def test_an_agent_cannot_change_a_contact(alice_api, support_conversation):
    response = alice_api.patch(f"{API}/contacts/{support_conversation.contact_id}/", {"name": "Hacked"}, format="json")

    assert response.status_code == 403
    assert Contact.objects.get(pk=support_conversation.contact_id).name != "Hacked"
