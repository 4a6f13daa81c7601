"""The HTTP request step asks a CRM, maps its answer into variables and logs why it failed.

The CRM is a real HTTP server on 127.0.0.1 (allowlisted here); runs go through the real engine.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from inbox import services as inbox
from routing import engine
from routing import services as routing
from routing.models import Connection, Run
from routing.steps import http as http_step
from routing.tasks import requeue_stalled_runs
from routing.validation import validate_definition
from tests.routing.test_ssrf import LocalServer, answer

pytestmark = pytest.mark.django_db

SECRET = "sk-live-0123456789abcdef"


def lookup_workflow(**lookup) -> dict:
    return {
        "name": "CRM lookup",
        "trigger": {"type": "conversation_opened"},
        "start": "lookup",
        "steps": {
            "lookup": {
                "type": "http_request",
                "method": "GET",
                "connection": "CRM",
                "url": "/customers?email={{contact.email}}",
                "mapping": {"CustomerType": "$.customerType"},
                "next": {"success": "tell", "failure": "sorry"},
                **lookup,
            },
            "tell": {"type": "send_message", "text": "You are {{var.CustomerType}}."},
            "sorry": {"type": "send_message", "text": "We could not look you up."},
        },
    }


@pytest.fixture
def crm(settings):
    """The CRM: answers by path; records what it was sent. 127.0.0.1 is allowlisted for it."""
    settings.HTTP_REQUEST_ALLOWLIST = ["127.0.0.1"]
    release = threading.Event()

    def customers(h):
        email = unquote(h.path.partition("email=")[2])
        kind = "VIP" if email.startswith("vip") else "regular"
        answer(h, 200, json.dumps({"customerType": kind, "email": email}).encode())

    def slow(h):
        release.wait(5)

    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        for _ in range(160):
            h.wfile.write(b" " * 65536)

    server = LocalServer(
        {
            "/customers": customers,
            "/echo": lambda h: answer(h, 200, json.dumps({"ok": True}).encode()),
            "/down": lambda h: answer(h, 503, b"maintenance", "text/plain"),
            "/html": lambda h: answer(h, 200, b"<html>Login</html>", "text/html"),
            "/other": lambda h: answer(h, 200, b'{"somethingElse": 1}'),
            "/slow": slow,
            "/huge": huge,
        }
    )
    Connection.objects.create(name="CRM", base_url=server.url, secret_headers={"X-Api-Key": SECRET})
    yield server
    release.set()
    server.close()


def live(definition: dict):
    workflow = routing.create_workflow(definition)
    routing.publish(workflow)
    return workflow


def start(channel, email: str = "vip@example.com", name: str = "Ana"):
    conversation, _ = inbox.receive_message(channel, {"external_id": "c-1", "name": name, "email": email}, "Hi")
    return conversation


def outgoing(conversation) -> list[str]:
    return list(conversation.messages.filter(direction="outgoing").values_list("text", flat=True))


def lookup_log(run: Run) -> list[tuple[str, str]]:
    return [(entry.outcome, entry.detail) for entry in run.log.filter(step="lookup").order_by("id")]


def test_it_maps_the_crm_answer_into_a_variable(crm, api_channel, run_on_commit):
    live(lookup_workflow())

    with run_on_commit(execute=True):
        conversation = start(api_channel, email="vip+1@example.com")

    run = Run.objects.get(conversation=conversation)
    assert run.status == Run.Status.COMPLETED
    assert run.variables["CustomerType"] == "VIP"
    assert outgoing(conversation) == ["You are VIP."]
    outcomes = lookup_log(run)
    assert [o for o, _ in outcomes] == ["waiting", "success"]
    assert "var.CustomerType = VIP" in outcomes[1][1]
    method, path, headers, _body = crm.requests[0]
    assert (method, path) == ("GET", "/customers?email=vip%2B1%40example.com")  # URL-encoded
    assert headers["X-Api-Key"] == SECRET


def test_the_connection_secret_never_shows_in_the_run(crm, api_channel, run_on_commit):
    live(lookup_workflow(url="/down"))

    with run_on_commit(execute=True):
        conversation = start(api_channel)

    run = Run.objects.get(conversation=conversation)
    assert crm.requests[0][2]["X-Api-Key"] == SECRET  # it was sent ...
    stored = json.dumps([run.state, run.variables, run.error, run.version.definition])
    stored += json.dumps([(e.step, e.outcome, e.detail) for e in run.log.all()])
    assert SECRET not in stored  # ... and is nowhere in the run, its log or its workflow


def test_a_body_is_json_encoded_and_headers_cannot_be_injected(crm, api_channel, run_on_commit):
    live(
        lookup_workflow(
            method="POST",
            url="/echo",
            headers={"X-Customer": "{{contact.name}}"},
            body={"name": "{{contact.name}}", "note": 'Hello "{{contact.name}}"', "email": "{{contact.email}}"},
            mapping={"ok": "$.ok"},
        )
    )
    nasty = 'Ana "\\" O\'Neil\r\nX-Evil: 1'

    with run_on_commit(execute=True):
        start(api_channel, name=nasty)

    _method, _path, headers, body = crm.requests[0]
    sent = json.loads(body)
    assert sent["name"].startswith('Ana "\\" O\'Neil') and sent["email"] == "vip@example.com"
    assert sent["note"] == f'Hello "{sent["name"]}"'
    assert "X-Evil" not in headers
    assert headers["X-Customer"].startswith('Ana "\\" O\'Neil') and "\n" not in headers["X-Customer"]
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("url", "extra", "reason"),
    [
        ("/down", {}, "answered HTTP 503"),
        ("/html", {}, "not with JSON (text/html)"),
        ("/other", {}, "$.customerType matched nothing"),
        ("/slow", {"timeout": 0.5}, "(timeout)"),
        ("/huge", {}, "larger than 1048576 bytes"),
    ],
)
def test_a_crm_problem_takes_the_failure_path_with_the_reason_in_the_log(
    crm, api_channel, run_on_commit, url, extra, reason
):
    live(lookup_workflow(url=url, **extra))

    with run_on_commit(execute=True):
        conversation = start(api_channel)

    run = Run.objects.get(conversation=conversation)
    outcome, detail = lookup_log(run)[-1]
    assert outcome == "failure"
    assert reason in detail
    assert run.status == Run.Status.COMPLETED  # the failure path ran to its end
    assert outgoing(conversation) == ["We could not look you up."]
    assert "CustomerType" not in run.variables


def test_a_crm_that_is_down_is_a_logged_failure(settings, api_channel, run_on_commit):
    settings.HTTP_REQUEST_ALLOWLIST = ["127.0.0.1"]
    server = LocalServer({})
    server.close()  # nobody listens on that port any more
    definition = lookup_workflow(url=f"{server.url}/customers")
    del definition["steps"]["lookup"]["connection"]
    live(definition)

    with run_on_commit(execute=True):
        conversation = start(api_channel)

    run = Run.objects.get(conversation=conversation)
    outcome, detail = lookup_log(run)[-1]
    assert (outcome, run.status) == ("failure", Run.Status.COMPLETED)
    assert "Could not connect" in detail
    assert outgoing(conversation) == ["We could not look you up."]


def test_an_internal_address_that_is_not_allowlisted_is_refused(settings, api_channel, run_on_commit):
    settings.HTTP_REQUEST_ALLOWLIST = []
    definition = lookup_workflow(url="http://169.254.169.254/latest/meta-data/")
    del definition["steps"]["lookup"]["connection"]
    live(definition)

    with run_on_commit(execute=True):
        conversation = start(api_channel)

    outcome, detail = lookup_log(Run.objects.get(conversation=conversation))[-1]
    assert outcome == "failure"
    assert "internal address, not in the allowlist" in detail


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"connection": "Nope"}, "Step 'lookup': Connection 'Nope' does not exist."),
        ({"method": "FETCH"}, "Step 'lookup': 'method' must be one of GET, POST, PUT, PATCH, DELETE."),
        ({"mapping": {"CustomerType": "$.[?("}}, "Step 'lookup': mapping 'CustomerType': bad JSONPath"),
        ({"mapping": {"not a var": "$.x"}}, "Step 'lookup': mapping: 'not a var' is not a variable name."),
        ({"url": "/customers?email={{contact.email}"}, "Step 'lookup': url:"),
        ({"url": "crm.example.com/x", "connection": None}, "Step 'lookup': 'url' must start with http://"),
        ({"headers": {"Host": "evil"}}, "Step 'lookup': Header 'Host' is set automatically"),
        ({"headers": {"Bad Name": "x"}}, "Step 'lookup': 'Bad Name' is not a valid header name."),
        ({"timeout": 0}, "Step 'lookup': 'timeout' must be a number of seconds"),
    ],
)
def test_publishing_refuses_a_broken_http_step_naming_it(db, change, error):
    Connection.objects.create(name="CRM", base_url="https://crm.example.com")
    definition = lookup_workflow()
    definition["steps"]["lookup"].update(change)
    definition["steps"]["lookup"] = {k: v for k, v in definition["steps"]["lookup"].items() if v is not None}

    errors = validate_definition(definition)

    assert any(e.startswith(error) for e in errors), errors


def test_a_relative_url_needs_a_connection_with_a_base_url(db):
    Connection.objects.create(name="CRM")

    errors = validate_definition(lookup_workflow())

    assert "Step 'lookup': A URL starting with '/' needs a 'connection' with a base URL." in errors


def test_a_valid_http_step_publishes(db):
    Connection.objects.create(name="CRM", base_url="https://crm.example.com/api")

    assert validate_definition(lookup_workflow()) == []


@pytest.mark.django_db(transaction=True)
def test_the_request_is_sent_with_the_run_committed_and_unlocked(crm, api_channel):
    """Network I/O never happens inside the step's transaction: while the CRM is being asked,
    another connection already reads the run as waiting_http and (Postgres) can lock it at once."""
    seen: list[str] = []

    def customers(h):
        from django.db import connections

        run = Run.objects.select_for_update(nowait=True) if db_connection.vendor == "postgresql" else Run.objects
        from django.db import transaction

        with transaction.atomic():
            seen.append(run.get().status)
        connections.close_all()
        answer(h, 200, b'{"customerType": "VIP"}')

    crm.routes["/customers"] = customers
    live(lookup_workflow())
    conversation = start(api_channel)  # on commit the task would run; here we advance by hand
    run = Run.objects.get(conversation=conversation)

    assert engine.advance(run.pk) == Run.Status.COMPLETED
    assert seen == [Run.Status.WAITING_HTTP]
    assert outgoing(conversation) == ["You are VIP."]


def test_a_duplicate_answer_is_applied_once(crm, api_channel):
    live(lookup_workflow())
    conversation = start(api_channel)
    run = Run.objects.get(conversation=conversation)
    crm_calls_before = len(crm.requests)

    from django.db import transaction

    with transaction.atomic():
        locked = engine._lock(run.pk)
        engine._step_once(locked)  # the step prepares its request and waits
        call = engine._claim_http(locked)
    # Two tasks with the same claimed request (a duplicate broker message) both finish it.
    engine._send_http(run.pk, call)
    engine._send_http(run.pk, call)
    assert engine.advance(run.pk) == Run.Status.COMPLETED

    run.refresh_from_db()
    assert [o for o, _ in lookup_log(run)] == ["waiting", "success"]
    assert outgoing(conversation) == ["You are VIP."]
    assert len(crm.requests) - crm_calls_before == 2


def test_a_worker_dying_mid_request_leaves_the_run_to_the_stalled_sweep(crm, api_channel, run_on_commit, monkeypatch):
    live(lookup_workflow())
    real_perform = http_step.perform

    def worker_dies(call):
        raise SystemExit("worker killed")

    monkeypatch.setattr(http_step, "perform", worker_dies)
    with pytest.raises(SystemExit), run_on_commit(execute=True):
        conversation = start(api_channel)
    conversation = api_channel.conversations.get()
    run = Run.objects.get(conversation=conversation)
    assert run.status == Run.Status.WAITING_HTTP
    monkeypatch.setattr(http_step, "perform", real_perform)

    with run_on_commit(execute=True):
        assert requeue_stalled_runs.apply().get() == 0  # its lease still runs: not stalled yet
    past = timezone.now() - engine.http_lease() - timedelta(seconds=1)
    run.refresh_from_db()
    run.state["http"]["lease_until"] = past.isoformat()
    Run.objects.filter(pk=run.pk).update(state=run.state, updated_at=past)

    with run_on_commit(execute=True):
        assert requeue_stalled_runs.apply().get() == 1

    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert [o for o, _ in lookup_log(run)] == ["waiting", "success"]
    assert outgoing(conversation) == ["You are VIP."]


def test_a_run_waiting_on_another_workers_request_is_left_alone(crm, api_channel):
    live(lookup_workflow())
    conversation = start(api_channel)
    run = Run.objects.get(conversation=conversation)
    from django.db import transaction

    with transaction.atomic():
        locked = engine._lock(run.pk)
        engine._step_once(locked)
        engine._claim_http(locked)  # another worker holds the lease

    started = time.monotonic()
    assert engine.advance(run.pk) == Run.Status.WAITING_HTTP
    assert time.monotonic() - started < 1
    assert crm.requests == []


def test_the_admin_lists_connections_with_header_names_not_secrets(admin_client):
    Connection.objects.create(name="CRM", base_url="https://crm.example.com", secret_headers={"X-Api-Key": SECRET})

    page = admin_client.get(reverse("admin:routing_connection_changelist")).content.decode()

    assert "CRM" in page and "X-Api-Key" in page
    assert SECRET not in page
