"""Playbook 4, "VIP contacts", through the REST API, a real worker and a real CRM over HTTP.

Given VIP and Support teams with an online agent each, a connection "CRM" (with its API key)
to a CRM served on 127.0.0.1 (allowlisted by the administrator), and the one-click template
``vip_contacts`` imported and published: a contact with an e-mail is looked up in the CRM and
goes to VIP or Support by its customer type; a CRM that is down, too slow or answers HTML sends
the contact to Support with a comment saying the lookup failed, and the run's log says why. A
contact without an e-mail is asked for one (validated, 3 retries): a valid one is thanked for,
saved to the contact and looked up; after the retries the failure path takes over.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from routing.workflow_templates import load
from tests.e2e import API, HelpdeskApi, outcomes_of, step_path, wait_for, webhook_receiver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker_process"),
]

API_KEY = "crm-key-5f0e2a9c"
STEPS = set(load("vip_contacts")["steps"])
WELCOME_VIP = "Welcome back! A senior agent of our VIP team will be with you shortly."
WELCOME = "Thanks for writing! An agent will reply shortly."
ASK = "Hello! What is your e-mail address, so that we can find your account?"


class Crm:
    """The CRM: ``GET /customers?email=...`` answers by the address's first word.

    vip… → VIP, down… → 503, slow… → no answer for 5 s, html… → an HTML login page,
    anything else → regular. Requests without the API key are refused (401).
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                crm.requests.append((self.path, dict(self.headers)))
                email = parse_qs(urlsplit(self.path).query).get("email", [""])[0]
                if self.headers.get("X-Api-Key") != API_KEY:
                    return self._send(401, b'{"error": "no key"}')
                if email.startswith("down"):
                    return self._send(503, b"Service Unavailable", "text/plain")
                if email.startswith("slow"):
                    crm.release.wait(5)
                    return self._send(200, b'{"customerType": "VIP"}')
                if email.startswith("html"):
                    return self._send(200, b"<html><body>Please log in</body></html>", "text/html")
                kind = "VIP" if email.startswith("vip") else "Regular"
                return self._send(200, json.dumps({"email": email, "customerType": kind}).encode())

            def _send(self, status: int, body: bytes, content_type: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def emails(self) -> list[str]:
        return [parse_qs(urlsplit(path).query).get("email", [""])[0] for path, _headers in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crm():
    server = Crm()
    yield server
    server.close()


@pytest.fixture
def api(admin_api, crm) -> HelpdeskApi:
    """The world of the playbook, set up through the API as an administrator would."""
    api = HelpdeskApi(admin_api)
    api.create_team("VIP")
    api.create_team("Support")
    api.create_agent("victoria", ["VIP"])
    api.create_agent("sam", ["Support"])
    api.post(f"{API}/connections/", {"name": "CRM", "base_url": crm.url, "secret_headers": {"X-Api-Key": API_KEY}})
    api.post(f"{API}/http-allowlist/", {"value": "127.0.0.1", "note": "the test CRM"})
    definition = load("vip_contacts")
    definition["steps"]["lookup"]["timeout"] = 1  # the slow CRM case then takes a second, not five
    api.post(f"{API}/workflows/import/?publish=1", definition)
    return api


@pytest.fixture
def channel(api) -> dict:
    return api.create_channel("Web shop")


def team_and_assignee(api: HelpdeskApi, conversation_id: int) -> tuple[str, str]:
    conversation = api.conversation(conversation_id)
    return conversation["team"], conversation["assignee"]


def comments(api: HelpdeskApi, conversation_id: int) -> list[str]:
    return [m["text"] for m in api.messages(conversation_id) if m["direction"] == "comment"]


def lookup_failure(run: dict) -> str:
    (detail,) = [e["detail"] for e in run["log"] if e["step"] == "lookup" and e["outcome"] == "failure"]
    return detail


def test_it_assigns_vip_contacts_to_the_vip_team(api, channel, crm):
    conversation_id = api.incoming(channel["id"], {"external_id": "v-1", "email": "vip@example.com"}, "Hi")[
        "conversation"
    ]

    run = api.wait_for_run(conversation_id, "completed")
    assert step_path(run, STEPS) == ["has_email", "lookup", "is_vip", "assign_vip", "welcome_vip"]
    assert run["variables"]["CustomerType"] == "VIP"
    assert team_and_assignee(api, conversation_id) == ("VIP", "victoria")
    assert api.outgoing(conversation_id) == [WELCOME_VIP]
    assert crm.emails() == ["vip@example.com"]
    assert crm.requests[0][1]["X-Api-Key"] == API_KEY
    assert API_KEY not in json.dumps(run)  # the secret never shows in the run or its log


def test_it_routes_regular_customers_to_support(api, channel, crm):
    conversation_id = api.incoming(channel["id"], {"external_id": "r-1", "email": "ana@example.com"}, "Hi")[
        "conversation"
    ]

    run = api.wait_for_run(conversation_id, "completed")
    assert step_path(run, STEPS) == ["has_email", "lookup", "is_vip", "assign_regular", "welcome"]
    assert run["variables"]["CustomerType"] == "Regular"
    assert team_and_assignee(api, conversation_id) == ("Support", "sam")
    assert api.outgoing(conversation_id) == [WELCOME]


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("down@example.com", "answered HTTP 503"),
        ("slow@example.com", "within 1 seconds (timeout)"),
        ("html@example.com", "not with JSON (text/html)"),
    ],
    ids=["crm-down", "crm-slow", "crm-answers-html"],
)
def test_a_failed_crm_lookup_routes_to_support_and_says_why(api, channel, email, reason):
    conversation_id = api.incoming(channel["id"], {"external_id": "f-1", "email": email}, "Hi")["conversation"]

    run = api.wait_for_run(conversation_id, "completed", timeout=30)
    assert step_path(run, STEPS) == ["has_email", "lookup", "crm_failed", "assign_regular", "welcome"]
    assert reason in lookup_failure(run)
    assert team_and_assignee(api, conversation_id) == ("Support", "sam")
    assert comments(api, conversation_id)[0].startswith("The CRM lookup failed")
    assert "CustomerType" not in run["variables"]


def test_a_contact_without_email_is_asked_and_the_valid_answer_is_saved_and_looked_up(api, channel, crm):
    contact = {"external_id": "n-1", "name": "Nora"}
    conversation_id = api.incoming(channel["id"], contact, "Hi")["conversation"]
    assert api.wait_for_outgoing(conversation_id, 1) == [ASK]

    api.incoming(channel["id"], contact, "not an address")
    api.wait_for_outgoing(conversation_id, 2)
    api.incoming(channel["id"], contact, "  VIP.Nora@Example.com ")

    run = api.wait_for_run(conversation_id, "completed")
    assert outcomes_of(run, "ask_email") == ["waiting", "retry", "success"]
    assert step_path(run, STEPS) == [
        "has_email",
        "ask_email",
        "thanks_email",
        "save_email",
        "back_to_lookup",
        "lookup",
        "is_vip",
        "assign_vip",
        "welcome_vip",
    ]
    outgoing = api.outgoing(conversation_id)
    assert outgoing[0] == ASK and outgoing[1].startswith("Sorry, that doesn't look like an e-mail")
    assert outgoing[2:] == ["Thank you! We saved vip.nora@example.com to your profile.", WELCOME_VIP]
    contact_id = api.conversation(conversation_id)["contact"]["id"]
    assert api.get(f"{API}/contacts/{contact_id}/")["email"] == "vip.nora@example.com"
    assert crm.emails() == ["vip.nora@example.com"]
    assert team_and_assignee(api, conversation_id) == ("VIP", "victoria")


def test_after_three_invalid_emails_the_failure_path_hands_over_to_support(api, channel, crm):
    contact = {"external_id": "n-2", "name": "Otto"}
    conversation_id = api.incoming(channel["id"], contact, "Hi")["conversation"]
    api.wait_for_outgoing(conversation_id, 1)

    for attempt, text in enumerate(["nope", "still nope", "no@", "@no"], start=2):
        api.incoming(channel["id"], contact, text)
        if attempt <= 4:
            api.wait_for_outgoing(conversation_id, attempt)  # asked again, retry attempt-1 of 3

    run = api.wait_for_run(conversation_id, "completed")
    assert outcomes_of(run, "ask_email") == ["waiting", "retry", "retry", "retry", "failure"]
    assert step_path(run, STEPS) == ["has_email", "ask_email", "no_email", "assign_regular", "welcome"]
    assert comments(api, conversation_id) == [
        "The contact gave no valid e-mail address after 3 retries: please ask them yourself."
    ]
    assert team_and_assignee(api, conversation_id) == ("Support", "sam")
    assert crm.requests == []  # never looked up without an address
    wait_for(lambda: api.outgoing(conversation_id)[-1] == WELCOME, what="the welcome message")


def test_an_integrator_subscribed_to_assignments_hears_of_the_vip_assignment_signed(api, channel):
    with webhook_receiver() as (url, received):
        subscription = api.post(
            f"{API}/webhook-subscriptions/",
            {"url": f"{url}/events", "events": ["conversation.assigned"]},
        )
        conversation_id = api.incoming(channel["id"], {"external_id": "w-1", "email": "vip@example.com"}, "Hi")[
            "conversation"
        ]

        wait_for(lambda: received, what="the conversation.assigned webhook")
    ((headers, body),) = received
    signature = hmac.new(subscription["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Helpdesk-Signature"] == f"sha256={signature}"
    event = json.loads(body)
    assert (event["event"], event["conversation"], event["team"], event["assignee"]) == (
        "conversation.assigned",
        conversation_id,
        "VIP",
        "victoria",
    )
    assert headers["X-Helpdesk-Timestamp"] == str(event["sent_at"])

    def logged() -> list[tuple[str, str]]:
        return [(d["event"], d["status"]) for d in api.get(f"{API}/webhook-deliveries/")["results"]]

    wait_for(lambda: logged() == [("conversation.assigned", "delivered")], what="the delivery log")
