"""Outgoing webhooks: events written to the outbox with the change that caused them, then POSTed.

``emit`` is the one place events leave from. It runs in the caller's transaction: one
``Delivery`` row per subscription that wants the event, so the event exists if and only if
the change committed; the worker is woken with ``transaction.on_commit``. Each delivery is
claimed with a conditional update before it is sent (a duplicate task finds nothing to do),
signed with HMAC-SHA256, retried with exponential backoff and marked delivered once.

A channel's own ``webhook_url`` keeps its outbox rows of ``message.outgoing`` (written by
``inbox.services.send_message``); they are signed and sent by the same code here.

Headers of every POST: ``X-Helpdesk-Signature: sha256=<hex HMAC of the raw body>``,
``X-Helpdesk-Timestamp`` (also ``sent_at`` in the signed body), ``X-Helpdesk-Delivery`` (the
outbox row's id) and ``X-Helpdesk-Event``; subscriptions also get ``X-Helpdesk-Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from inbox.models import Conversation, Delivery, Message, WebhookSubscription

Event = WebhookSubscription.Event
EVENTS = tuple(Event.values)
TIMEOUT = (3.05, 10)
LEASE_SECONDS = 60

Data = dict[str, Any] | Callable[[], dict[str, Any]]


def emit(event: str, conversation: Conversation, data: Data, key: str | None = None) -> list[Delivery]:
    """Queue ``event`` about ``conversation`` for every active subscription that wants it.

    Call it inside the transaction of the change. ``data`` (or a function giving it, called only
    when someone subscribed) is the event's JSON; ``key`` makes the event idempotent: emitting the
    same key twice stores it once per subscription. Nothing is sent before the commit.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subscriptions = [s for s in _active_subscriptions() if s.wants(event, conversation.channel_id)]
    if not subscriptions:
        return []
    payload = data() if callable(data) else data
    key = key or uuid.uuid4().hex
    now = timezone.now()
    created: list[Delivery] = []
    for subscription in subscriptions:
        row_key = f"{event}:{key}:{subscription.pk}"[:200]
        try:
            with transaction.atomic():
                delivery = Delivery.objects.create(
                    subscription=subscription,
                    conversation=conversation,
                    event=event,
                    payload=payload,
                    idempotency_key=row_key,
                    url=subscription.url,
                    next_attempt_at=now,
                )
        except IntegrityError:
            continue  # emitted before under the same key: stored once, sent once
        created.append(delivery)
    if created:
        from inbox.tasks import deliver_event

        ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: [deliver_event.delay(pk) for pk in ids])
    return created


def _active_subscriptions() -> list[WebhookSubscription]:
    return list(WebhookSubscription.objects.filter(active=True).only("id", "url", "events", "channel_id", "active"))


# --- Event data ---------------------------------------------------------------------------------


def message_data(message: Message) -> dict[str, Any]:
    conversation = message.conversation
    return {
        "message": {"id": message.pk, "text": message.text, "created_at": message.created_at.isoformat()},
        "contact": {"id": conversation.contact_id, "external_id": conversation.contact.external_id},
    }


def assignment_data(conversation: Conversation, detail: str = "") -> dict[str, Any]:
    return {
        "team": conversation.team.name if conversation.team_id else None,
        "assignee": conversation.assignee.user.username if conversation.assignee_id else None,
        "detail": detail,
    }


def closed_data(conversation: Conversation) -> dict[str, Any]:
    return {"closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None}


def run_failed_data(run) -> dict[str, Any]:
    return {
        "run": {
            "id": run.pk,
            "workflow": run.workflow_id,
            "step": run.current_step,
            "error": run.error[:2000],
        }
    }


# --- Sending ------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of the raw body with the endpoint's secret, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def claim(delivery_id: int) -> Delivery | None:
    """Claim a due subscription delivery with a conditional update; None if taken, done or not due."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, subscription__isnull=False, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
    if not claimed:
        return None
    return Delivery.objects.select_related("subscription").get(pk=delivery_id)


def body_of(delivery: Delivery, sent_at: int) -> bytes:
    """The JSON body: the event, the outbox id and the time, the conversation, then the event's data."""
    if delivery.subscription_id is None:
        message = delivery.message
        data: dict[str, Any] = message_data(message)
        conversation_id = message.conversation_id
    else:
        data = dict(delivery.payload or {})
        conversation_id = delivery.conversation_id
    envelope: dict[str, Any] = {
        "event": delivery.event,
        "delivery": delivery.pk,
        "sent_at": sent_at,
        "conversation": conversation_id,
    }
    if delivery.idempotency_key:
        envelope["idempotency_key"] = delivery.idempotency_key
    return json.dumps({**envelope, **data}, ensure_ascii=False).encode()


def post(delivery: Delivery, secret: str) -> str:
    """POST the delivery, signed; the error in words, or "" when the endpoint took it (2xx)."""
    sent_at = int(time.time())
    body = body_of(delivery, sent_at)
    headers = {
        "Content-Type": "application/json",
        "X-Helpdesk-Event": delivery.event,
        "X-Helpdesk-Delivery": str(delivery.pk),
        "X-Helpdesk-Timestamp": str(sent_at),
        "X-Helpdesk-Signature": "sha256=" + sign(secret, body),
    }
    if delivery.idempotency_key:
        headers["X-Helpdesk-Idempotency-Key"] = delivery.idempotency_key
    try:
        response = requests.post(delivery.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
        response.close()
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:2000]
    if not 200 <= response.status_code < 300:
        return f"HTTP {response.status_code}"
    return ""


def due() -> tuple[list[int], list[int]]:
    """Pending deliveries whose time has come: (message ids of channel rows, ids of subscription rows)."""
    rows = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", "message_id", "subscription_id")[:200]
    )
    messages = [message_id for _pk, message_id, subscription_id in rows if subscription_id is None and message_id]
    events = [pk for pk, _message_id, subscription_id in rows if subscription_id is not None]
    return messages, events


def retry(deliveries) -> int:
    """Send failed deliveries again (an administrator's action), from a fresh count of attempts."""
    from inbox.tasks import deliver_event, deliver_message

    rows = list(deliveries.filter(status=Delivery.Status.FAILED).values_list("pk", "message_id", "subscription_id"))
    Delivery.objects.filter(pk__in=[pk for pk, _m, _s in rows]).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    for pk, message_id, subscription_id in rows:
        if subscription_id is None:
            transaction.on_commit(lambda m=message_id: deliver_message.delay(m))
        else:
            transaction.on_commit(lambda d=pk: deliver_event.delay(d))
    return len(rows)
