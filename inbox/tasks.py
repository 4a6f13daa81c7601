"""Thin Celery tasks of the inbox: deliver outgoing messages to channel webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import requests
from celery import shared_task

from inbox import services

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = (3.05, 10)


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of the body with the channel's secret, hex; receivers recompute it to trust the POST.

    The body carries its own ``sent_at`` and ``delivery`` id, so a receiver can refuse a stale
    or replayed POST using signed data only.
    """
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@shared_task(acks_late=True, ignore_result=True)
def deliver_message(message_id: int) -> None:
    delivery = services.claim_delivery(message_id)
    if delivery is None:
        return
    message = delivery.message
    conversation = message.conversation
    body = json.dumps(
        {
            "event": "message.outgoing",
            "delivery": delivery.pk,
            "sent_at": int(time.time()),
            "conversation": conversation.pk,
            "message": {"id": message.pk, "text": message.text, "created_at": message.created_at.isoformat()},
            "contact": {"id": conversation.contact_id, "external_id": conversation.contact.external_id},
        },
        ensure_ascii=False,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Helpdesk-Delivery": str(delivery.pk),
        "X-Helpdesk-Signature": "sha256=" + sign(conversation.channel.webhook_secret, body),
    }
    error = ""
    try:
        response = requests.post(delivery.url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    delay = services.finish_delivery(delivery, error=error)
    if delay is not None:
        logger.info("Delivery %s failed (%s); retrying in %s", delivery.pk, error, delay)
        deliver_message.apply_async((message_id,), countdown=delay.total_seconds())


@shared_task(ignore_result=True)
def deliver_due_messages() -> None:
    """Beat sweep: retries whose broker message was lost are picked up from the outbox."""
    for message_id in services.due_delivery_ids():
        deliver_message.delay(message_id)


# --- The team queue and agent availability --------------------------------------------------------


@shared_task(ignore_result=True)
def drain_queues(agent_id: int | None = None) -> None:
    """Hand waiting conversations out: of one agent's teams (came online, freed capacity), or of
    every team with a queue (beat sweep every few seconds, which also catches shifts starting)."""
    from inbox.models import Team

    for team in Team.objects.filter(pk__in=services.queued_team_ids(agent_id=agent_id)):
        services.drain_queue(team)


@shared_task(ignore_result=True)
def reassign_from_offline(agent_id: int) -> None:
    from inbox.models import Agent

    agent = Agent.objects.select_related("user").filter(pk=agent_id).first()
    if agent is not None and agent.availability == Agent.Availability.OFFLINE:
        services.reassign_from_offline(agent)


@shared_task(ignore_result=True)
def mark_idle_agents_offline() -> None:
    services.mark_idle_agents_offline()
