"""The agent inbox: lists, a conversation, replies and comments, assignment, shortcuts, preferences.

Cast (tests/conftest.py): alice of Support, bob of Sales, an admin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import services
from inbox.models import Agent, Assignment, Conversation, Message, Notification
from routing import services as routing
from routing import workflow_templates
from routing.models import Run
from tests.factories import (
    AgentFactory,
    ChannelFactory,
    ContactFactory,
    ConversationFactory,
    MessageFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def logged_in(agent_or_user) -> Client:
    client = Client()
    client.force_login(getattr(agent_or_user, "user", agent_or_user))
    return client


def listed_ids(response) -> set[int]:
    return {c.pk for c in response.context["conversations"]}


@pytest.fixture
def billing(db):
    return TeamFactory(name="Billing")


@pytest.fixture
def bill(billing):
    return AgentFactory(user=UserFactory(username="bill", first_name="Bill"), teams=[billing])


@pytest.fixture
def escalation(billing):
    TeamFactory(name="Technical support")
    workflow = routing.create_workflow(workflow_templates.load("escalate_shortcut"))
    routing.publish(workflow)
    return workflow


# --- Access -------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page():
    response = Client().get("/inbox/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/inbox/")
    assert Client().get("/accounts/login/").status_code == 200


def test_an_agent_logs_in_with_the_login_form_and_lands_in_the_inbox(alice):
    alice.user.set_password("s3cret-pass-word")
    alice.user.save()

    response = Client().post("/accounts/login/", {"username": "alice", "password": "s3cret-pass-word"})

    assert response.status_code == 302 and response["Location"] == "/inbox/"


def test_an_agent_lists_their_teams_conversations_and_not_other_teams(alice, support, sales):
    ours = ConversationFactory(team=support)
    theirs = ConversationFactory(team=sales)

    response = logged_in(alice).get("/inbox/?tab=teams")

    assert listed_ids(response) == {ours.pk}
    assert theirs.pk not in listed_ids(logged_in(alice).get("/inbox/?tab=all"))


def test_an_agent_of_another_team_gets_404_and_changes_nothing(alice, bob, support):
    conversation = ConversationFactory(team=support, assignee=alice)
    client = logged_in(bob)

    pages = [f"/inbox/c/{conversation.pk}/{suffix}" for suffix in ("", "live/", "shortcuts/")]
    writes = [
        (f"/inbox/c/{conversation.pk}/reply/", {"text": "Hi"}),
        (f"/inbox/c/{conversation.pk}/comment/", {"text": "Note"}),
        (f"/inbox/c/{conversation.pk}/assign/", {"me": "1"}),
        (f"/inbox/c/{conversation.pk}/unassign/", {}),
        (f"/inbox/c/{conversation.pk}/close/", {}),
    ]

    assert [client.get(url).status_code for url in pages] == [404, 404, 404]
    assert [client.post(url, data).status_code for url, data in writes] == [404] * len(writes)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("open", alice)
    assert not Message.objects.filter(conversation=conversation).exists()
    assert not Assignment.objects.exists()


def test_an_agent_opens_a_conversation_assigned_to_them_outside_their_teams(alice, sales):
    conversation = ConversationFactory(team=sales, assignee=alice)

    assert logged_in(alice).get(f"/inbox/c/{conversation.pk}/").status_code == 200


def test_the_admin_sees_every_conversation_in_all(admin_user, alice, support, sales):
    conversations = {ConversationFactory(team=support).pk, ConversationFactory(team=sales).pk, ConversationFactory().pk}

    response = logged_in(admin_user).get("/inbox/")

    assert response.context["tab"] == "all"
    assert listed_ids(response) == conversations
    assert "all" not in [tab for tab, _label, _url in logged_in(alice).get("/inbox/").context["tabs"]]


# --- Tabs, filters, search, pages ---------------------------------------------------------------


def test_tabs_show_mine_unassigned_and_my_teams(alice, support):
    mine = ConversationFactory(team=support, assignee=alice)
    colleague = AgentFactory(teams=[support])
    theirs = ConversationFactory(team=support, assignee=colleague)
    waiting = ConversationFactory(team=support)
    client = logged_in(alice)

    assert listed_ids(client.get("/inbox/")) == {mine.pk}
    assert listed_ids(client.get("/inbox/?tab=unassigned")) == {waiting.pk}
    assert listed_ids(client.get("/inbox/?tab=teams")) == {mine.pk, theirs.pk, waiting.pk}


def test_filters_by_status_team_and_channel(admin_user, support, sales):
    web = ChannelFactory(name="Web", kind="web_chat")
    open_support = ConversationFactory(team=support)
    closed_support = ConversationFactory(team=support, status="closed")
    on_web = ConversationFactory(team=sales, channel=web)
    client = logged_in(admin_user)

    assert listed_ids(client.get(f"/inbox/?team={support.pk}")) == {open_support.pk}
    assert listed_ids(client.get("/inbox/?status=closed")) == {closed_support.pk}
    assert listed_ids(client.get(f"/inbox/?status=all&team={support.pk}")) == {open_support.pk, closed_support.pk}
    assert listed_ids(client.get(f"/inbox/?channel={web.pk}")) == {on_web.pk}


def test_an_agent_cannot_filter_their_way_into_another_team(alice, support, sales):
    ConversationFactory(team=sales)

    response = logged_in(alice).get(f"/inbox/?tab=teams&team={sales.pk}")

    assert listed_ids(response) == set()


def test_search_finds_by_contact_name_email_and_message_text(admin_user):
    by_name = ConversationFactory(contact=ContactFactory(name="Zoë Quartz"))
    by_email = ConversationFactory(contact=ContactFactory(name="X", email="invoice-lady@example.org"))
    by_text = ConversationFactory(contact=ContactFactory(name="Y"))
    MessageFactory(conversation=by_text, text="My parcel never arrived at the warehouse")
    ConversationFactory(contact=ContactFactory(name="Nobody"))
    client = logged_in(admin_user)

    assert listed_ids(client.get("/inbox/?q=quartz")) == {by_name.pk}
    assert listed_ids(client.get("/inbox/?q=invoice-lady")) == {by_email.pk}
    assert listed_ids(client.get("/inbox/?q=WAREHOUSE")) == {by_text.pk}


def test_the_list_pages_through_older_conversations(admin_user):
    ConversationFactory.create_batch(30)
    client = logged_in(admin_user)

    first, second = client.get("/inbox/"), client.get("/inbox/?page=2")

    assert len(first.context["conversations"]) == 25 and first.context["next_url"]
    assert len(second.context["conversations"]) == 5 and second.context["next_url"] is None
    assert listed_ids(first).isdisjoint(listed_ids(second))


def test_a_poll_of_the_list_returns_only_the_table(alice, support):
    ConversationFactory(team=support, assignee=alice)

    response = logged_in(alice).get("/inbox/", headers={"HX-Request": "true"})

    assert response.templates[0].name == "inbox/_list.html"
    assert b"<html" not in response.content


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/inbox/?tab=teams").status_code == 200
    return len(captured)


def test_the_list_runs_the_same_number_of_queries_whatever_the_page_holds(
    alice, support, django_assert_max_num_queries
):
    client = logged_in(alice)
    for _ in range(2):
        MessageFactory(conversation=ConversationFactory(team=support, assignee=AgentFactory(teams=[support])))
    _list_queries(client)  # warm-up: session, content types
    few = _list_queries(client)
    for _ in range(23):
        MessageFactory(conversation=ConversationFactory(team=support, assignee=AgentFactory(teams=[support])))

    with django_assert_max_num_queries(few):
        response = client.get("/inbox/?tab=teams")

    assert len(response.context["conversations"]) == 25
    assert few <= 10


# --- One conversation ---------------------------------------------------------------------------


def test_the_conversation_shows_the_thread_with_internal_comments_apart(alice, support):
    conversation = ConversationFactory(team=support, assignee=alice)
    MessageFactory(conversation=conversation, text="Where is my order?")
    MessageFactory(conversation=conversation, direction="comment", text="Customer is VIP")

    response = logged_in(alice).get(f"/inbox/c/{conversation.pk}/")

    html = response.content.decode()
    assert 'class="message incoming"' in html and "Where is my order?" in html
    assert 'class="message comment"' in html and "Internal comment" in html
    assert "Customer is VIP" in html


def test_the_conversation_shows_the_contact_fields_and_the_run_log(alice, support, run_on_commit):
    routing.publish(
        routing.create_workflow(
            {
                "name": "Greeter",
                "trigger": {"type": "conversation_opened"},
                "start": "hello",
                "steps": {"hello": {"type": "send_message", "text": "Welcome!"}},
            }
        )
    )
    with run_on_commit(execute=True):
        conversation, _ = services.receive_message(
            ChannelFactory(), {"external_id": "c-1", "name": "Ana", "email": "ana@example.com"}, "Hi"
        )
    Conversation.objects.filter(pk=conversation.pk).update(team=support)

    html = logged_in(alice).get(f"/inbox/c/{conversation.pk}/").content.decode()

    assert "ana@example.com" in html
    assert "Greeter v1" in html and "Run completed" in html


def test_an_agent_replies_and_comments(alice, support):
    conversation = ConversationFactory(team=support)
    client = logged_in(alice)

    reply = client.post(f"/inbox/c/{conversation.pk}/reply/", {"text": "We are on it."})
    note = client.post(f"/inbox/c/{conversation.pk}/comment/", {"text": "Refund approved"})

    assert reply.status_code == note.status_code == 302
    messages = list(conversation.messages.values_list("direction", "text", "author__username"))
    assert messages == [("outgoing", "We are on it.", "alice"), ("comment", "Refund approved", "alice")]
    conversation.refresh_from_db()
    assert conversation.last_outgoing_at is not None


def test_an_empty_or_oversized_reply_is_refused(alice, support, settings):
    conversation = ConversationFactory(team=support)
    client = logged_in(alice)

    client.post(f"/inbox/c/{conversation.pk}/reply/", {"text": "   "})
    client.post(f"/inbox/c/{conversation.pk}/reply/", {"text": "x" * (settings.MESSAGE_MAX_LENGTH + 1)})

    assert not conversation.messages.exists()


def test_writes_need_the_csrf_token(alice, support):
    conversation = ConversationFactory(team=support)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)

    response = client.post(f"/inbox/c/{conversation.pk}/reply/", {"text": "Hi"})

    assert response.status_code == 403
    assert not conversation.messages.exists()


def test_an_agent_takes_hands_over_and_releases_a_conversation(alice, support, sales, bob):
    conversation = ConversationFactory(team=support)
    client = logged_in(alice)

    client.post(f"/inbox/c/{conversation.pk}/assign/", {"me": "1"})
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (alice, support)

    client.post(f"/inbox/c/{conversation.pk}/assign/", {"team": sales.pk})
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (bob, sales)
    alice.refresh_from_db()
    assert alice.open_count == 0

    client.force_login(bob.user)
    client.post(f"/inbox/c/{conversation.pk}/unassign/")
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.team == sales


def test_an_agent_closes_and_reopens_a_conversation(alice, support):
    conversation = ConversationFactory(team=support, assignee=alice)
    client = logged_in(alice)

    client.post(f"/inbox/c/{conversation.pk}/close/")
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    client.post(f"/inbox/c/{conversation.pk}/reopen/")
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_the_polled_thread_shows_new_messages(alice, support):
    conversation = ConversationFactory(team=support)
    client = logged_in(alice)
    client.get(f"/inbox/c/{conversation.pk}/")
    MessageFactory(conversation=conversation, text="Anyone there?")

    response = client.get(f"/inbox/c/{conversation.pk}/live/", headers={"HX-Request": "true"})

    assert b"Anyone there?" in response.content and b"<html" not in response.content


def test_the_poll_of_a_conversation_handed_to_another_team_says_so_and_shows_nothing(alice, bob, support, sales):
    conversation = ConversationFactory(team=support)
    MessageFactory(conversation=conversation, text="Private details")
    client = logged_in(alice)
    client.get(f"/inbox/c/{conversation.pk}/")
    services.assign(conversation, team=sales)

    response = client.get(f"/inbox/c/{conversation.pk}/live/", headers={"HX-Request": "true"})

    assert response.status_code == 404
    assert b"no longer in your teams" in response.content and b"Private details" not in response.content


def test_user_data_is_escaped_everywhere(alice, support):
    contact = ContactFactory(name="<script>alert(1)</script>", email="x@example.com")
    conversation = ConversationFactory(team=support, assignee=alice, contact=contact)
    MessageFactory(conversation=conversation, text="<img src=x onerror=alert(2)>")
    client = logged_in(alice)

    pages = [client.get("/inbox/").content, client.get(f"/inbox/c/{conversation.pk}/").content]

    for html in pages:
        assert b"<script>alert(1)" not in html and b"&lt;script&gt;alert(1)" in html
    assert b"<img src=x" not in pages[1] and b"&lt;img src=x onerror=alert(2)&gt;" in pages[1]


# --- Shortcuts ----------------------------------------------------------------------------------


def test_the_shortcuts_tab_lists_live_shortcuts(alice, support, escalation):
    conversation = ConversationFactory(team=support)

    response = logged_in(alice).get(f"/inbox/c/{conversation.pk}/shortcuts/", headers={"HX-Request": "true"})

    assert b"Escalate to second-line support" in response.content
    assert f"/inbox/c/{conversation.pk}/shortcuts/{escalation.pk}/".encode() in response.content


def test_the_shortcut_form_is_rendered_from_its_definition(alice, support, escalation):
    conversation = ConversationFactory(team=support)

    response = logged_in(alice).get(f"/inbox/c/{conversation.pk}/shortcuts/{escalation.pk}/")

    form = response.context["form"]
    assert list(form.fields) == ["team", "summary"]
    assert [value for value, _label in form.fields["team"].widget.choices] == ["", "Billing", "Technical support"]
    html = response.content.decode()
    assert "Escalate to team" in html and "Escalation summary" in html and '<select name="team"' in html


def test_server_errors_of_the_shortcut_form_show_next_to_the_fields(alice, support, escalation):
    conversation = ConversationFactory(team=support)

    response = logged_in(alice).post(
        f"/inbox/c/{conversation.pk}/shortcuts/{escalation.pk}/", {"team": "Marketing", "summary": ""}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "team": ["Choose one of: Billing, Technical support."],
        "summary": ["This field is required."],
    }
    assert b'id="error-summary"' in response.content
    assert not Run.objects.exists()


def test_starting_the_escalation_assigns_billing_comments_and_notifies(alice, bill, support, escalation, run_on_commit):
    conversation = ConversationFactory(team=support, assignee=alice)
    client = logged_in(alice)

    with run_on_commit(execute=True):
        response = client.post(
            f"/inbox/c/{conversation.pk}/shortcuts/{escalation.pk}/",
            {"team": "Billing", "summary": "Charged twice in May"},
            headers={"HX-Request": "true"},
        )

    assert response.status_code == 200 and "started" in response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.team.name, conversation.assignee) == ("Billing", bill)
    assert conversation.messages.get(direction="comment").text == "Escalated to Billing: Charged twice in May"
    assert set(Notification.objects.filter(recipient=bill.user).values_list("kind", flat=True)) == {
        "assigned",
        "comment",
    }
    live = logged_in(bill).get(f"/inbox/c/{conversation.pk}/live/").content.decode()
    assert "Charged twice in May" in live and "Escalate to second-line support v1" in live


# --- The agent ----------------------------------------------------------------------------------


def test_an_agent_switches_their_availability(alice):
    logged_in(alice).post("/inbox/me/availability/", {"availability": "away"})

    alice.refresh_from_db()
    assert alice.availability == "away"


def test_an_agent_picks_a_language_and_time_zone_and_the_inbox_uses_them(alice, support):
    conversation = ConversationFactory(team=support, assignee=alice)
    message = MessageFactory(conversation=conversation, text="Hola")
    Message.objects.filter(pk=message.pk).update(created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    client = logged_in(alice)

    client.post("/inbox/me/profile/", {"language": "es", "timezone": "Asia/Tokyo"})
    alice.refresh_from_db()
    html = client.get(f"/inbox/c/{conversation.pk}/").content.decode()

    assert (alice.language, alice.timezone) == ("es", "Asia/Tokyo")
    assert "Enviar respuesta" in html  # "Send reply"
    assert "15/01/2026 21:00" in html  # 12:00 UTC in Tokyo, written the Spanish way


def test_an_unknown_time_zone_is_refused(alice):
    response = logged_in(alice).post("/inbox/me/profile/", {"language": "en", "timezone": "Mars/Olympus"})

    assert response.status_code == 200 and response.context["form"].errors
    alice.refresh_from_db()
    assert alice.timezone == "UTC"


def test_last_seen_is_written_at_most_once_a_minute(alice):
    client = logged_in(alice)

    client.get("/inbox/")
    first = Agent.objects.get(pk=alice.pk).last_seen_at
    client.get("/inbox/")
    second = Agent.objects.get(pk=alice.pk).last_seen_at
    Agent.objects.filter(pk=alice.pk).update(last_seen_at=timezone.now() - timedelta(minutes=2))
    client.get("/inbox/")
    third = Agent.objects.get(pk=alice.pk).last_seen_at

    assert first is not None and second == first
    assert third > first


@pytest.mark.parametrize("language", ["es", "pt", "ru"])
def test_the_inbox_and_the_shipped_shortcut_are_translated(language):
    from django.utils import translation

    with translation.override(language):
        texts = [translation.gettext(text) for text in ("Send reply", "Escalate to team", "Technical support")]

    assert all(text and text not in ("Send reply", "Escalate to team", "Technical support") for text in texts)
