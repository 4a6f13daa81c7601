"""Outgoing messages of an API channel are POSTed to its webhook, signed, retried, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import Conversation, Delivery, WebhookSubscription
from inbox.tasks import deliver_due_messages, deliver_event, deliver_message
from tests.factories import ChannelFactory, ConversationFactory


class Receiver:
    """A real HTTP server on localhost that records what it is sent."""

    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()


def test_an_outgoing_message_is_posted_signed(receiver, run_on_commit):
    hook = receiver(200)
    channel = ChannelFactory(webhook_url=hook.url)
    conversation = ConversationFactory(channel=channel)
    with run_on_commit(execute=True):
        message = services.send_message(conversation, "Hello from us ✓")
    ((headers, body),) = hook.requests
    expected = hmac.new(channel.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Helpdesk-Signature"] == f"sha256={expected}"
    assert json.loads(body)["message"]["text"] == "Hello from us ✓"
    assert Delivery.objects.get(message=message).status == Delivery.Status.DELIVERED


def test_a_delivery_is_retried_with_backoff_and_never_sent_twice(receiver, run_on_commit, monkeypatch):
    hook = receiver(500, 200)
    original = deliver_message.apply_async

    def no_delayed_retry(*args, **kwargs):  # the retry is driven by hand below
        return None if kwargs.get("countdown") else original(*args, **kwargs)

    monkeypatch.setattr(deliver_message, "apply_async", no_delayed_retry)
    channel = ChannelFactory(webhook_url=hook.url)
    with run_on_commit(execute=True):
        message = services.send_message(ConversationFactory(channel=channel), "Hi")
    delivery = Delivery.objects.get(message=message)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now()

    deliver_message(message.pk)  # not due yet: nothing sent
    assert len(hook.requests) == 1
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    deliver_due_messages.apply()
    deliver_message(message.pk)  # a duplicate task after success
    assert len(hook.requests) == 2
    assert Delivery.objects.get(message=message).status == Delivery.Status.DELIVERED


def test_a_channel_without_webhook_queues_nothing(db):
    message = services.send_message(ConversationFactory(), "Hi")
    assert not Delivery.objects.filter(message=message).exists()


# --- Webhook subscriptions: conversation.assigned, conversation.closed, run.failed ... -------------


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """What an integrator does: check the signature and the timestamp, then read the event."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Helpdesk-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert headers["X-Helpdesk-Timestamp"] == str(payload["sent_at"])
    assert abs(payload["sent_at"] - timezone.now().timestamp()) < 60
    assert headers["X-Helpdesk-Event"] == payload["event"]
    return payload


def test_a_subscription_receives_assignment_and_closing_signed(receiver, run_on_commit, support, alice):
    hook = receiver()
    subscription = WebhookSubscription.objects.create(
        url=hook.url, events=["conversation.assigned", "conversation.closed"]
    )
    conversation = ConversationFactory()

    with run_on_commit(execute=True):
        services.assign(conversation, team=support)
    with run_on_commit(execute=True):
        services.close_conversation(conversation)

    assigned, closed = (verify(subscription.secret, headers, body) for headers, body in hook.requests)
    assert (assigned["event"], assigned["conversation"]) == ("conversation.assigned", conversation.pk)
    assert (assigned["team"], assigned["assignee"]) == ("Support", "alice")
    assert closed["event"] == "conversation.closed" and closed["closed_at"]
    assert hook.requests[0][0]["X-Helpdesk-Idempotency-Key"] != hook.requests[1][0]["X-Helpdesk-Idempotency-Key"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}


def test_the_channel_webhook_and_a_subscription_both_get_an_outgoing_message(receiver, run_on_commit):
    channel_hook, subscriber = receiver(), receiver()
    channel = ChannelFactory(webhook_url=channel_hook.url)
    subscription = WebhookSubscription.objects.create(url=subscriber.url, events=["message.outgoing"])

    with run_on_commit(execute=True):
        message = services.send_message(ConversationFactory(channel=channel), "Hello")

    ((channel_headers, channel_body),) = channel_hook.requests
    ((headers, body),) = subscriber.requests
    as_before = verify(channel.webhook_secret, channel_headers, channel_body)
    copy = verify(subscription.secret, headers, body)
    assert (
        as_before["message"]
        == copy["message"]
        == {
            "id": message.pk,
            "text": "Hello",
            "created_at": message.created_at.isoformat(),
        }
    )
    assert "idempotency_key" not in as_before  # the channel's body is exactly as it always was


def test_a_subscription_filtered_to_a_channel_hears_only_that_channel(receiver, run_on_commit, support, alice):
    hook = receiver()
    shop = ChannelFactory(name="Shop")
    WebhookSubscription.objects.create(url=hook.url, events=["conversation.assigned"], channel=shop)
    WebhookSubscription.objects.create(url=hook.url, events=["conversation.assigned"], active=False)

    with run_on_commit(execute=True):
        services.assign(ConversationFactory(), team=support)  # another channel
        services.assign(ConversationFactory(channel=shop), team=support)

    assert len(hook.requests) == 1
    assert json.loads(hook.requests[0][1])["conversation"] == Conversation.objects.get(channel=shop).pk


def test_a_failed_run_is_announced(receiver, run_on_commit, api_channel, settings):
    from routing import services as routing

    settings.HTTP_REQUEST_ALLOWLIST = []
    hook = receiver()
    subscription = WebhookSubscription.objects.create(url=hook.url, events=["run.failed"])
    workflow = routing.create_workflow(
        {
            "name": "Ask the metadata service",
            "trigger": {"type": "conversation_opened"},
            "start": "lookup",
            "steps": {"lookup": {"type": "http_request", "url": "http://169.254.169.254/latest"}},
        }
    )
    routing.publish(workflow)

    with run_on_commit(execute=True):
        conversation, _ = services.receive_message(api_channel, {"external_id": "x-1"}, "Hi")

    ((headers, body),) = hook.requests
    event = verify(subscription.secret, headers, body)
    assert (event["event"], event["conversation"]) == ("run.failed", conversation.pk)
    assert event["run"]["workflow"] == workflow.pk and event["run"]["step"] == "lookup"
    assert "not in the allowlist" in event["run"]["error"]


def test_an_event_is_retried_with_backoff_and_sent_once(receiver, run_on_commit, monkeypatch, support, alice):
    hook = receiver(503, 200)
    original = deliver_event.apply_async
    monkeypatch.setattr(
        deliver_event, "apply_async", lambda *a, **kw: None if kw.get("countdown") else original(*a, **kw)
    )
    WebhookSubscription.objects.create(url=hook.url, events=["conversation.assigned"])

    with run_on_commit(execute=True):
        services.assign(ConversationFactory(), team=support)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 503")
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=1)

    deliver_event(delivery.pk)  # not due yet: nothing sent
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    deliver_due_messages.apply()
    deliver_event(delivery.pk)  # a duplicate task after success
    deliver_event(delivery.pk)

    assert len(hook.requests) == 2
    first, second = (json.loads(body) for _headers, body in hook.requests)
    assert first["idempotency_key"] == second["idempotency_key"]  # the receiver can tell it is a retry
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


def test_an_event_emitted_twice_under_one_key_is_stored_once(db, support):
    from inbox import webhooks

    WebhookSubscription.objects.create(url="https://example.com/hook", events=["conversation.closed"])
    conversation = ConversationFactory()

    webhooks.emit("conversation.closed", conversation, {"closed_at": "x"}, key="close-1")
    webhooks.emit("conversation.closed", conversation, {"closed_at": "x"}, key="close-1")

    assert Delivery.objects.count() == 1


def test_nothing_is_queued_without_subscribers(db, support, alice):
    services.assign(ConversationFactory(), team=support)

    assert not Delivery.objects.exists()


def test_a_delivery_that_keeps_failing_is_marked_failed_and_can_be_sent_again(receiver, run_on_commit, support):
    from inbox import webhooks

    hook = receiver(*([500] * 8), 200)
    WebhookSubscription.objects.create(url=hook.url, events=["conversation.closed"])
    with run_on_commit(execute=True):
        services.close_conversation(ConversationFactory())
    for _ in range(7):  # each retry when it is due
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        deliver_event(Delivery.objects.get().pk)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 8)

    with run_on_commit(execute=True):
        assert webhooks.retry(Delivery.objects.all()) == 1

    assert Delivery.objects.get().status == Delivery.Status.DELIVERED
    assert len(hook.requests) == 9
