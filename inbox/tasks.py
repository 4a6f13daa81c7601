"""Thin Celery tasks of the inbox: deliver the webhook outbox (inbox.webhooks), queues, availability."""

from __future__ import annotations

import logging

from celery import shared_task

from inbox import services, webhooks

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def deliver_message(message_id: int | None) -> None:
    """POST an outgoing message to its channel's webhook (the channel's own outbox row)."""
    if message_id is None:
        return
    delivery = services.claim_delivery(message_id)
    if delivery is None:
        return
    error = webhooks.post(delivery, delivery.message.conversation.channel.webhook_secret)
    delay = services.finish_delivery(delivery, error=error)
    if delay is not None:
        logger.info("Delivery %s failed (%s); retrying in %s", delivery.pk, error, delay)
        deliver_message.apply_async((message_id,), countdown=delay.total_seconds())


@shared_task(acks_late=True, ignore_result=True)
def deliver_event(delivery_id: int) -> None:
    """POST one event to one webhook subscription; claimed first, so a duplicate task sends nothing."""
    delivery = webhooks.claim(delivery_id)
    if delivery is None:
        return
    error = webhooks.post(delivery, delivery.subscription.secret)
    delay = services.finish_delivery(delivery, error=error)
    if delay is not None:
        logger.info("Delivery %s failed (%s); retrying in %s", delivery.pk, error, delay)
        deliver_event.apply_async((delivery_id,), countdown=delay.total_seconds())


@shared_task(ignore_result=True)
def deliver_due_messages() -> None:
    """Beat sweep: retries whose broker message was lost are picked up from the outbox."""
    message_ids, delivery_ids = webhooks.due()
    for message_id in message_ids:
        deliver_message.delay(message_id)
    for delivery_id in delivery_ids:
        deliver_event.delay(delivery_id)


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
