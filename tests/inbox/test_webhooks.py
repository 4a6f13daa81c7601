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
from inbox.models import Delivery
from inbox.tasks import deliver_due_messages, deliver_message
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
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


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
