"""Administrators set up teams and agents through the API; agents look and set their availability."""

from __future__ import annotations

from inbox.models import Agent, Team
from tests.api.conftest import API


def test_an_admin_creates_a_team_and_gets_its_id(admin_api):
    response = admin_api.post(f"{API}/teams/", {"name": "Billing"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Billing"
    assert Team.objects.get(pk=response.json()["id"]).name == "Billing"


def test_a_team_name_is_unique(admin_api, support):
    response = admin_api.post(f"{API}/teams/", {"name": "Support"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_an_agent_may_list_teams_but_not_create_one(alice_api, support, sales):
    listed = alice_api.get(f"{API}/teams/")
    created = alice_api.post(f"{API}/teams/", {"name": "Rogue"}, format="json")

    assert listed.status_code == 200
    assert {t["name"] for t in listed.json()["results"]} == {"Support", "Sales"}
    assert created.status_code == 403
    assert not Team.objects.filter(name="Rogue").exists()


def test_an_admin_creates_an_agent_in_teams_named_by_name(admin_api, support, sales):
    response = admin_api.post(
        f"{API}/agents/",
        {
            "username": "carol",
            "email": "carol@example.com",
            "name": "Carol King",
            "teams": ["Support", "Sales"],
            "availability": "online",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "carol" and body["name"] == "Carol King" and body["email"] == "carol@example.com"
    assert sorted(body["teams"]) == ["Sales", "Support"]
    assert body["availability"] == "online"
    agent = Agent.objects.get(pk=body["id"])
    assert set(agent.teams.values_list("name", flat=True)) == {"Support", "Sales"}


def test_creating_an_agent_in_an_unknown_team_names_it_and_creates_nothing(admin_api, support):
    response = admin_api.post(f"{API}/agents/", {"username": "carol", "teams": ["Support", "Billing"]}, format="json")

    assert response.status_code == 400
    assert "Billing" in str(response.json()["teams"])
    assert not Agent.objects.filter(user__username="carol").exists()


def test_a_taken_username_is_refused(admin_api, alice):
    response = admin_api.post(f"{API}/agents/", {"username": "ALICE"}, format="json")

    assert response.status_code == 400
    assert "username" in response.json()


def test_an_agent_sets_its_own_availability(alice_api, alice):
    response = alice_api.patch(f"{API}/agents/{alice.pk}/", {"availability": "away"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["availability"] == "away"
    alice.refresh_from_db()
    assert alice.availability == "away"


def test_an_agent_cannot_set_another_agents_availability(bob_api, alice):
    response = bob_api.patch(f"{API}/agents/{alice.pk}/", {"availability": "offline"}, format="json")

    assert response.status_code in (403, 404)
    alice.refresh_from_db()
    assert alice.availability == "online"


def test_an_admin_sets_any_agents_availability(admin_api, alice):
    response = admin_api.patch(f"{API}/agents/{alice.pk}/", {"availability": "offline"}, format="json")

    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.availability == "offline"


def test_an_unknown_availability_is_refused(alice_api, alice):
    response = alice_api.patch(f"{API}/agents/{alice.pk}/", {"availability": "asleep"}, format="json")

    assert response.status_code == 400
    assert "availability" in response.json()


def test_an_agent_cannot_create_agents(alice_api, support):
    response = alice_api.post(f"{API}/agents/", {"username": "mallory", "teams": ["Support"]}, format="json")

    assert response.status_code == 403
    assert not Agent.objects.filter(user__username="mallory").exists()


def test_an_empty_patch_changes_nothing(alice_api, alice):
    response = alice_api.patch(f"{API}/agents/{alice.pk}/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["availability"] == "online"
