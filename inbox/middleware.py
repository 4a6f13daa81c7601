"""Per-request agent context: the agent's language and time zone, and their presence.

Installed after ``AuthenticationMiddleware`` (and ``LocaleMiddleware``, whose choice from
the browser it overrides for agents who picked a language).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import timedelta

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from inbox.models import Agent

SEEN_EVERY = timedelta(minutes=1)


def touch_last_seen(agent: Agent) -> bool:
    """Record that the agent is here, at most once a minute; True when the row was written.

    A conditional UPDATE: concurrent requests of one agent write once, and the inactivity
    sweep reads ``last_seen_at`` to set agents who left offline.
    """
    now = timezone.now()
    if agent.last_seen_at is not None and now - agent.last_seen_at < SEEN_EVERY:
        return False
    written = (
        Agent.objects.filter(pk=agent.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_EVERY))
        .update(last_seen_at=now)
    )
    if written:
        agent.last_seen_at = now
    return bool(written)


class AgentMiddleware:
    """Set ``request.agent``; activate its language and time zone; keep ``last_seen_at`` fresh."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        agent = None
        if not request.path.startswith("/api/") and request.user.is_authenticated:
            agent = Agent.objects.filter(user=request.user).first()
        request.agent = agent
        if agent is None:
            return self.get_response(request)
        touch_last_seen(agent)
        if agent.language:
            translation.activate(agent.language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            timezone.activate(zoneinfo.ZoneInfo(agent.timezone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
