"""Agents work the conversations of their teams; what they may not see is a 404 and stays untouched."""

from __future__ import annotations

from inbox.models import Conversation, Message
from tests.api.conftest import API, inbox_counts
from tests.factories import ConversationFactory


def test_a_conversation_shows_team_assignee_contact_and_channel(alice_api, alice, support_conversation):
    support_conversation.assignee = alice
    support_conversation.save()

    response = alice_api.get(f"{API}/conversations/{support_conversation.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "Support"
    assert body["assignee"] == "alice"
    assert body["channel"] == "API"
    assert body["status"] == "open"
    assert body["contact"]["id"] == support_conversation.contact_id
    assert {"last_incoming_at", "last_outgoing_at", "opened_at", "closed_at"} <= body.keys()


def test_an_agent_lists_only_its_teams_conversations(alice_api, support_conversation, sales_conversation):
    response = alice_api.get(f"{API}/conversations/")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [support_conversation.pk]


def test_an_admin_sees_every_conversation(admin_api, support_conversation, sales_conversation):
    response = admin_api.get(f"{API}/conversations/")

    assert {c["id"] for c in response.json()["results"]} == {support_conversation.pk, sales_conversation.pk}


def test_conversations_filter_by_team_and_status(admin_api, support_conversation, sales_conversation):
    Conversation.objects.filter(pk=sales_conversation.pk).update(status="closed")

    by_team = admin_api.get(f"{API}/conversations/", {"team": "Sales"})
    open_ones = admin_api.get(f"{API}/conversations/", {"status": "open"})

    assert [c["id"] for c in by_team.json()["results"]] == [sales_conversation.pk]
    assert [c["id"] for c in open_ones.json()["results"]] == [support_conversation.pk]


def test_conversations_page_with_a_cursor(admin_api, api_channel):
    ids = [ConversationFactory(channel=api_channel).pk for _ in range(3)]

    first = admin_api.get(f"{API}/conversations/", {"page_size": 2}).json()
    second = admin_api.get(first["next"]).json()

    assert [c["id"] for c in first["results"] + second["results"]] == sorted(ids, reverse=True)
    assert second["next"] is None


def test_another_teams_conversation_is_a_404_for_an_agent(bob_api, support_conversation):
    for path in ("", "messages/", "runs/"):
        response = bob_api.get(f"{API}/conversations/{support_conversation.pk}/{path}")
        assert response.status_code == 404, path


def test_an_agent_cannot_post_in_another_teams_conversation(bob_api, support_conversation):
    before = inbox_counts()

    sent = bob_api.post(f"{API}/conversations/{support_conversation.pk}/messages/", {"text": "Hi"}, format="json")
    commented = bob_api.post(f"{API}/conversations/{support_conversation.pk}/comments/", {"text": "x"}, format="json")
    closed = bob_api.post(f"{API}/conversations/{support_conversation.pk}/close/")

    assert (sent.status_code, commented.status_code, closed.status_code) == (404, 404, 404)
    assert inbox_counts() == before
    support_conversation.refresh_from_db()
    assert support_conversation.status == "open"


def test_an_agent_reads_the_messages_oldest_first(alice_api, alice, support_conversation):
    Message.objects.create(conversation=support_conversation, direction="outgoing", text="On it", author=alice.user)

    response = alice_api.get(f"{API}/conversations/{support_conversation.pk}/messages/")

    assert response.status_code == 200
    assert [(m["direction"], m["text"], m["author"]) for m in response.json()] == [
        ("incoming", "My order never came", None),
        ("outgoing", "On it", "alice"),
    ]


def test_an_agent_sends_a_message_as_itself(alice_api, support_conversation):
    response = alice_api.post(
        f"{API}/conversations/{support_conversation.pk}/messages/", {"text": "We are on it"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["direction"] == "outgoing" and response.json()["author"] == "alice"
    support_conversation.refresh_from_db()
    assert support_conversation.last_outgoing_at is not None


def test_a_blank_or_huge_message_is_refused(alice_api, support_conversation):
    before = inbox_counts()
    url = f"{API}/conversations/{support_conversation.pk}/messages/"

    blank = alice_api.post(url, {"text": "   "}, format="json")
    huge = alice_api.post(url, {"text": "x" * 1_000_000}, format="json")
    wrong_type = alice_api.post(url, {"text": ["a"]}, format="json")

    assert (blank.status_code, huge.status_code, wrong_type.status_code) == (400, 400, 400)
    assert "text" in huge.json()
    assert inbox_counts() == before


def test_an_agent_adds_an_internal_comment(alice_api, support_conversation):
    response = alice_api.post(
        f"{API}/conversations/{support_conversation.pk}/comments/", {"text": "VIP, be nice"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["direction"] == "comment"


def test_assigning_to_an_agent_by_username(admin_api, alice, support_conversation):
    response = admin_api.post(
        f"{API}/conversations/{support_conversation.pk}/assign/", {"agent": "alice"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == "alice"
    support_conversation.refresh_from_db()
    assert support_conversation.assignee == alice


def test_assigning_to_a_team_picks_one_of_its_agents(alice_api, bob, support_conversation):
    response = alice_api.post(
        f"{API}/conversations/{support_conversation.pk}/assign/", {"team": "Sales"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["team"], response.json()["assignee"]) == ("Sales", "bob")


def test_assigning_to_an_unknown_team_names_it(admin_api, support_conversation):
    response = admin_api.post(
        f"{API}/conversations/{support_conversation.pk}/assign/", {"team": "Nowhere"}, format="json"
    )

    assert response.status_code == 400
    assert "Nowhere" in str(response.json()["team"])
    support_conversation.refresh_from_db()
    assert support_conversation.team.name == "Support"


def test_closing_and_reopening(alice_api, support_conversation):
    closed = alice_api.post(f"{API}/conversations/{support_conversation.pk}/close/")
    reopened = alice_api.post(f"{API}/conversations/{support_conversation.pk}/reopen/")

    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert (reopened.status_code, reopened.json()["status"]) == (200, "open")


def test_unknown_and_non_numeric_conversation_ids_are_404(admin_api):
    assert admin_api.get(f"{API}/conversations/999999/").status_code == 404
    assert admin_api.get(f"{API}/conversations/99999999999999999999999/").status_code == 404
    assert admin_api.get(f"{API}/conversations/abc/").status_code == 404


def test_an_unrouted_conversation_has_no_team_and_no_assignee(admin_api, api_channel):
    conversation = ConversationFactory(channel=api_channel)

    body = admin_api.get(f"{API}/conversations/{conversation.pk}/").json()

    assert (body["team"], body["assignee"]) == (None, None)


def test_listing_conversations_costs_the_same_queries_for_one_or_many(
    alice_api, alice, support, api_channel, django_assert_max_num_queries
):
    for _ in range(20):
        ConversationFactory(channel=api_channel, team=support, assignee=alice)

    with django_assert_max_num_queries(5):
        response = alice_api.get(f"{API}/conversations/")

    assert len(response.json()["results"]) == 20
