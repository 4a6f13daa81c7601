"""The inbox and the web chat in a real browser, with a real worker running the workflows.

Given Support and Sales teams with an agent each (sam, bob), Billing with bill, a web-chat
channel routed by the customer's answer, and the escalation shortcut live.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from inbox import services
from inbox.models import Channel
from routing import services as routing
from routing import workflow_templates
from tests.browser.conftest import log_in, requires_chromium, wait_until
from tests.factories import AgentFactory, ChannelFactory, ContactFactory, TeamFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("browser_worker"),
]

ROUTE_BY_ANSWER = {
    "name": "Route web chat by answer",
    "trigger": {"type": "conversation_opened"},
    "start": "ask",
    "steps": {
        "ask": {
            "type": "ask_question",
            "text": "Which team can help you?",
            "kind": "multiple_choice",
            "options": ["Sales", "Support"],
            "save_as": "team",
            "retries": 2,
            "next": {"success": "route", "failure": "support", "timeout": "support"},
        },
        "route": {
            "type": "branch",
            "branches": [
                {"match": "all", "conditions": [{"field": "var.team", "op": "eq", "value": "Sales"}], "next": "sales"}
            ],
            "else": "support",
        },
        "sales": {"type": "assign", "team": "Sales", "strategy": "round_robin", "next": "hello"},
        "support": {"type": "assign", "team": "Support", "strategy": "round_robin", "next": "hello"},
        "hello": {"type": "send_message", "text": "You are now with our {{var.team}} team."},
    },
}


@pytest.fixture
def cast(db):
    support, sales, billing = TeamFactory(name="Support"), TeamFactory(name="Sales"), TeamFactory(name="Billing")
    TeamFactory(name="Technical support")
    return {
        "support": support,
        "sales": sales,
        "billing": billing,
        "sam": AgentFactory(user=UserFactory(username="sam", first_name="Sam"), teams=[support]),
        "bob": AgentFactory(user=UserFactory(username="bob", first_name="Bob"), teams=[sales]),
        "bill": AgentFactory(user=UserFactory(username="bill", first_name="Bill"), teams=[billing]),
    }


def test_a_customer_answers_in_the_web_chat_and_the_support_agent_sees_it_appear(cast, new_page, screenshot):
    routing.publish(routing.create_workflow(ROUTE_BY_ANSWER))
    web = ChannelFactory(name="Web chat", kind=Channel.Kind.WEB_CHAT)
    agent = new_page()
    log_in(agent, "sam")
    expect(agent.locator("table.conversations")).to_contain_text("No conversations here.")

    customer = new_page()
    customer.goto(f"/chat/{web.pk}/")
    customer.fill("#id_name", "Carla Cliente")
    customer.fill("#id_text", "My router keeps rebooting")
    customer.click("button:has-text('Start the chat')")
    expect(customer.locator(".thread")).to_contain_text("Which team can help you?")
    customer.click("button.option:has-text('Support')")
    expect(customer.locator(".thread")).to_contain_text("You are now with our Support team.")
    screenshot(customer, "webchat")

    # The agent's inbox, open all along, shows the conversation without a reload.
    row = agent.locator("tr.conversation", has_text="Carla Cliente")
    expect(row).to_be_visible()
    expect(row).to_contain_text("sam")
    row.locator("a.contact-name").click()
    expect(agent.locator(".thread")).to_contain_text("My router keeps rebooting")
    expect(agent.locator(".runs")).to_contain_text("Completed")


def test_an_agent_escalates_with_the_shortcut_and_the_billing_agent_is_notified(cast, new_page, screenshot):
    routing.publish(routing.create_workflow(workflow_templates.load("escalate_shortcut")))
    api = ChannelFactory(name="API")
    conversation, _ = services.receive_message(
        api, {"external_id": "dana-1", "name": "Dana Doe", "email": "dana@example.com"}, "I was charged twice"
    )
    services.assign(conversation, agent=cast["sam"])
    services.send_message(conversation, "Let me check that for you.", author=cast["sam"].user)
    for external_id, name, text in [("fe-1", "Felix Frank", "The app logs me out"), ("gi-1", "Gina Gómez", "Hola")]:
        other, _ = services.receive_message(api, {"external_id": external_id, "name": name}, text)
        services.assign(other, team=cast["support"])

    sam = new_page()
    log_in(sam, "sam")
    sam.click("a.tab:has-text('My teams')")
    expect(sam.locator("tr.conversation")).to_have_count(3)
    screenshot(sam, "inbox-list")
    sam.click("a.contact-name:has-text('Dana Doe')")
    sam.click("#workflows-button")
    sam.click("a.shortcut:has-text('Escalate to second-line support')")
    form = sam.locator(".shortcut-form")
    expect(form).to_contain_text("Escalate to team")

    form.locator("button:has-text('Start')").click()  # nothing filled in: the server says what is missing
    expect(form.locator("#error-summary")).to_have_text("This field is required.")
    screenshot(sam, "shortcut-form")
    form.locator("select[name=team]").select_option("Billing")
    form.locator("textarea[name=summary]").fill("Charged twice for the May invoice; refund one.")
    form.locator("button:has-text('Start')").click()
    expect(sam.locator(".notice.success")).to_contain_text("started")

    # The worker ran it: the conversation left Support, so sam's page (polling) says so.
    expect(sam.locator("#live")).to_contain_text("no longer in your teams")

    bill = new_page()
    log_in(bill, "bill")
    expect(bill.locator("#notifications .badge")).to_have_text("2")  # assigned + comment
    bill.click("#notifications summary")
    expect(bill.locator("#notifications .dropdown")).to_contain_text("was assigned to you")
    bill.locator("#notifications .dropdown a", has_text="New comment").first.click()
    expect(bill.locator("#assignment .assignee")).to_have_text("bill")
    expect(bill.locator("#assignment .team")).to_have_text("Billing")
    expect(bill.locator(".message.comment")).to_contain_text("Escalated to Billing: Charged twice for the May invoice")
    expect(bill.locator("#notifications .badge")).to_have_text("0")
    screenshot(bill, "conversation")


def test_an_agent_of_another_team_cannot_open_the_conversation(cast, new_page):
    conversation, _ = services.receive_message(ChannelFactory(name="API"), {"external_id": "eve-1"}, "Hi")
    services.assign(conversation, team=cast["support"])

    bob = new_page()
    log_in(bob, "bob")
    response = bob.goto(f"/inbox/c/{conversation.pk}/")

    assert response.status == 404
    expect(bob.locator("body")).not_to_contain_text("eve-1")


def test_a_contact_named_like_a_script_is_shown_as_text(cast, new_page):
    contact = ContactFactory(name="<script>alert(1)</script>", external_id="x-1")
    conversation, _ = services.receive_message(ChannelFactory(name="API"), {"external_id": contact.external_id}, "Hi")
    services.assign(conversation, agent=cast["sam"])
    dialogs = []

    sam = new_page()
    sam.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(sam, "sam")
    expect(sam.locator("a.contact-name")).to_have_text("<script>alert(1)</script>")
    sam.click("a.contact-name")
    expect(sam.locator("h1")).to_contain_text("<script>alert(1)</script>")
    wait_until(lambda: sam.title(), what="the page title")

    assert dialogs == []
    assert re.search(r"<script>alert\(1\)</script>", sam.locator("h1").inner_text())
