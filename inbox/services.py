"""Writes to the inbox: receiving and sending messages, assignment, closing.

Lock order, everywhere: conversation row, then its runs, then the contact, then team row, then
agent rows (a contact is upserted before, never while, its conversation is locked). Functions
that expect their caller to hold a lock say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts import services as contact_services
from inbox import schedules, webhooks
from inbox.models import Agent, Assignment, Channel, Conversation, Delivery, Membership, Message, Team


class Strategy:
    ROUND_ROBIN = "round_robin"
    LEAST_OPEN = "least_open"
    SPECIFIC = "specific"
    ALL = (ROUND_ROBIN, LEAST_OPEN, SPECIFIC)


def clean_text(text: Any, *, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ValidationError({field: [_("Must be a string.")]})
    if not text.strip():
        raise ValidationError({field: [_("This field may not be blank.")]})
    if len(text) > settings.MESSAGE_MAX_LENGTH:
        raise ValidationError(
            {field: [_("At most %(n)d characters; split the message.") % {"n": settings.MESSAGE_MAX_LENGTH}]}
        )
    return text


def receive_message(channel: Channel, contact_data: Any, text: Any) -> tuple[Conversation, Message]:
    """A contact wrote on a channel: store it, open a conversation if needed, wake the workflows.

    The contact is upserted first, in its own short transaction (it is idempotent, and holding
    its row lock while locking the conversation would invert the engine's lock order). Then
    conversation, message and the routing work they cause commit together, all or nothing;
    tasks are enqueued on commit.
    """
    from routing import services as routing_services

    text = clean_text(text)
    data = contact_services.clean_contact_data(contact_data, default_region=channel.country)
    if not any(data.get(key) for key in ("external_id", "email", "phone")):
        # Without an identity every message would open a conversation of its own, and an
        # answer could never reach the question it answers.
        raise ValidationError({"external_id": [_("Identify the contact with an external_id, email or phone.")]})
    contact = contact_services.upsert_contact(data, channel_language=channel.language, channel_country=channel.country)
    for attempt in range(2):
        try:
            with transaction.atomic():
                now = timezone.now()
                conversation, opened = _open_conversation(contact, channel, now)
                message = Message.objects.create(
                    conversation=conversation, direction=Message.Direction.INCOMING, text=text
                )
                if opened:
                    routing_services.on_conversation_opened(conversation)
                else:
                    Conversation.objects.filter(pk=conversation.pk).update(last_incoming_at=now)
                    conversation.last_incoming_at = now
                    routing_services.on_incoming_message(conversation, message)
            return conversation, message
        except IntegrityError:
            # Another message of the same contact opened the conversation a moment ago (the
            # partial unique constraint): all of this rolled back, and the retry appends to it.
            # No savepoint around the insert: the common case pays no extra round trips.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _open_conversation(contact, channel: Channel, now) -> tuple[Conversation, bool]:
    conversation = (
        Conversation.objects.select_for_update().filter(contact=contact, channel=channel, status="open").first()
    )
    if conversation is not None:
        return conversation, False
    return Conversation.objects.create(contact=contact, channel=channel, last_incoming_at=now), True


def _post(
    conversation: Conversation, direction: str, text: str, *, author=None, idempotency_key: str | None = None
) -> Message:
    # The key's unique constraint is the guard: the engine's locks already keep a step from
    # running twice, so a duplicate here is a bug to fail loudly on, not to paper over.
    return Message.objects.create(
        conversation=conversation, direction=direction, text=text, author=author, idempotency_key=idempotency_key
    )


def send_message(conversation: Conversation, text: str, *, author=None, idempotency_key: str | None = None) -> Message:
    """An outgoing message to the contact; delivered to the channel's webhook from the outbox."""
    text = clean_text(text)
    with transaction.atomic(savepoint=False):
        message = _post(conversation, Message.Direction.OUTGOING, text, author=author, idempotency_key=idempotency_key)
        Conversation.objects.filter(pk=conversation.pk).update(last_outgoing_at=message.created_at)
        conversation.last_outgoing_at = message.created_at
        channel = conversation.channel
        if channel.kind == Channel.Kind.API and channel.webhook_url:
            from inbox.tasks import deliver_message

            Delivery.objects.create(message=message, url=channel.webhook_url, next_attempt_at=timezone.now())
            transaction.on_commit(lambda: deliver_message.delay(message.pk))
        webhooks.emit("message.outgoing", conversation, lambda: webhooks.message_data(message), f"message:{message.pk}")
    return message


def add_comment(conversation: Conversation, text: str, *, author=None, idempotency_key: str | None = None) -> Message:
    """An internal note: agents see it, the contact never does."""
    text = clean_text(text)
    message = _post(conversation, Message.Direction.COMMENT, text, author=author, idempotency_key=idempotency_key)
    from inbox import notifications  # the assignee hears of comments others (or automation) write

    notifications.comment_added(conversation, message)
    return message


@dataclasses.dataclass(frozen=True)
class AssignResult:
    agent: Agent | None
    team: Team | None
    detail: str
    queued: bool = False  # unassigned, waiting in the team's queue

    @property
    def assigned(self) -> bool:
        return self.agent is not None


def pick_agent(
    team: Team,
    *,
    strategy: str,
    online_only: bool,
    on_shift_only: bool = False,
    exclude: Collection[int] = (),
) -> Agent | None:
    """The next agent of ``team`` by ``strategy``. Caller holds the team row lock.

    One query (three more for ``on_shift_only``), and one index range scan of the team's
    memberships (``Membership``: copies of each agent's keys), whatever the team's size.
    Fairness comes from the team lock, which serialises picks, and from ordering by least
    recently assigned.
    """
    members = Membership.objects.filter(team=team, can_take=True)
    if online_only:
        members = members.filter(online=True)
    if on_shift_only:
        on_duty = schedules.shifts_on_duty(team, timezone.now())
        if not on_duty:
            return None
        members = members.filter(agent__shifts__in=on_duty)
    if exclude:
        members = members.exclude(agent_id__in=exclude)
    if strategy == Strategy.LEAST_OPEN:
        order = ["team_id", "open_count", "last_assigned_at", "agent_id"]
    else:
        order = ["team_id", "last_assigned_at", "agent_id"]
    member = members.select_related("agent__user").order_by(*order).first()
    return member.agent if member is not None else None


def _on_shift(agent: Agent, now) -> bool:
    shifts = agent.shifts.select_related("schedule").prefetch_related("schedule__ranges", "schedule__closed_dates")
    return any(schedules.from_model(shift.schedule).is_open(now) for shift in shifts)


def _refusal(agent: Agent, *, rules: AssignRules, current: Agent | None) -> str | None:
    """Why ``agent`` cannot take the conversation, or None when it can."""
    if not agent.user.is_active:
        return _("%(agent)s is deactivated.") % {"agent": agent.username}
    if rules.online_only and agent.availability != Agent.Availability.ONLINE:
        return _("%(agent)s is %(availability)s, and only online agents may be chosen.") % {
            "agent": agent.username,
            "availability": agent.get_availability_display().lower(),
        }
    if rules.exclude_current and current is not None and agent.pk == current.pk:
        return _("%(agent)s already has it.") % {"agent": agent.username}
    has_it = current is not None and agent.pk == current.pk  # counts against their capacity already
    if agent.max_open is not None and agent.open_count >= agent.max_open and not has_it:
        return _("%(agent)s is at capacity (%(n)d open).") % {"agent": agent.username, "n": agent.open_count}
    if rules.on_shift_only and not _on_shift(agent, timezone.now()):
        return _("%(agent)s is not on shift now.") % {"agent": agent.username}
    return None


@dataclasses.dataclass(frozen=True)
class AssignRules:
    """Who may be chosen. ``queue``: with nobody eligible, wait unassigned in the team's queue
    (default: yes, unless ``exclude_current`` asked for someone other than the current agent,
    in which case the conversation stays where it is)."""

    strategy: str = Strategy.ROUND_ROBIN
    online_only: bool = False
    on_shift_only: bool = False
    exclude_current: bool = False
    queue: bool | None = None

    @property
    def queues(self) -> bool:
        return (not self.exclude_current) if self.queue is None else self.queue


# Picks tried when a concurrent assignment (from another team) filled the chosen agent's capacity.
MAX_PICKS = 5


def assign(
    conversation: Conversation,
    *,
    team: Team | None = None,
    agent: Agent | None = None,
    strategy: str = Strategy.ROUND_ROBIN,
    online_only: bool = False,
    on_shift_only: bool = False,
    exclude_current: bool = False,
    queue: bool | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    only_if_queued: bool = False,
    locked: bool = False,
) -> AssignResult:
    """Give the conversation to ``agent``, else to an agent of ``team`` chosen by ``strategy``.

    - ``agent`` and ``team``: the agent if they can take it, else the team's pick; the
      conversation is filed under ``team``.
    - Nobody eligible in ``team``: it waits in the team's queue (unassigned, ``queued_at`` set)
      unless the rules say not to queue, in which case it stays where it is.
    - ``exclude_current`` never picks the agent who has it now.
    - ``only_if_queued`` (queue draining): do nothing unless it still waits in ``team``'s queue.
    - ``locked``: the caller holds the conversation's row lock and ``conversation`` is fresh
      (the workflow engine), so it is not read again.
    """
    if agent is None and team is None:
        raise ValueError("assign() needs a team or an agent")
    rules = AssignRules(strategy, online_only, on_shift_only, exclude_current, queue)
    with transaction.atomic(savepoint=False):
        if locked:
            conv = conversation
        else:
            conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if Conversation.contact.is_cached(conversation):  # spares a query for the notice
                conv.contact = conversation.contact
        if only_if_queued and not (
            conv.queued_at and conv.assignee_id is None and conv.team_id == team.pk and conv.status == "open"
        ):
            return AssignResult(None, conv.team, _("It no longer waits in the queue."))
        current = conv.assignee
        chosen, details = _choose(conv, team, agent, rules, current)
        if chosen is not None:
            new_team = team or _team_for(chosen, conv.team)
        elif only_if_queued:
            return AssignResult(None, team, " ".join(details), queued=True)
        elif team is not None and rules.queues:
            new_team = team
            details.append(_("It waits in the team's queue."))
        else:
            details.append(_("It stays with %(who)s.") % {"who": current.username if current else _("nobody")})
            return AssignResult(None, conv.team, " ".join(details))
        detail = " ".join(details)
        _set_assignee(conv, chosen, new_team, rules)
        Assignment.objects.create(
            conversation=conv, team=new_team, agent=chosen, reason=reason or detail, idempotency_key=idempotency_key
        )
        conversation.team, conversation.assignee = conv.team, conv.assignee
        webhooks.emit("conversation.assigned", conv, lambda: webhooks.assignment_data(conv, detail), idempotency_key)
        conversation.queued_at = conv.queued_at
        return AssignResult(chosen, new_team, detail, queued=chosen is None)


def _choose(conv: Conversation, team: Team | None, agent: Agent | None, rules: AssignRules, current):
    """The agent who gets it, with the reasons; their capacity is taken (open count) already."""
    details: list[str] = []
    if agent is not None:
        refused = _refusal(agent, rules=rules, current=current)
        if refused is None and _take(conv, agent):
            details.append(_("Assigned to %(agent)s.") % {"agent": agent.username})
            return agent, details
        details.append(refused or _("%(agent)s is at capacity.") % {"agent": agent.username})
    if team is None:
        return None, details
    Team.objects.select_for_update().filter(pk=team.pk).first()
    exclude = {current.pk} if rules.exclude_current and current is not None else set()
    for _attempt in range(MAX_PICKS):
        chosen = pick_agent(
            team,
            strategy=rules.strategy,
            online_only=rules.online_only,
            on_shift_only=rules.on_shift_only,
            exclude=exclude,
        )
        if chosen is None:
            break
        if _take(conv, chosen):
            details.append(
                _("Assigned to %(agent)s of %(team)s (%(strategy)s).")
                % {"agent": chosen.username, "team": team.name, "strategy": rules.strategy.replace("_", " ")}
            )
            return chosen, details
        exclude.add(chosen.pk)  # filled up by an assignment from another team meanwhile
    if rules.online_only and rules.on_shift_only:
        only = _(" (only online agents on shift)")
    elif rules.online_only:
        only = _(" (only online agents)")
    elif rules.on_shift_only:
        only = _(" (only agents on shift)")
    else:
        only = ""
    details.append(
        _("Nobody%(else_)s in %(team)s can take it now%(online)s.")
        % {
            "else_": _(" else") if rules.exclude_current and current is not None else "",
            "team": team.name,
            "online": only,
        }
    )
    return None, details


def _take(conv: Conversation, agent: Agent) -> bool:
    """Count the conversation against ``agent``'s capacity, if there is room; False when full.

    The conditional UPDATE takes the agent's row lock, so two teams assigning to one agent at
    once are serialised here and the second re-reads the count: capacity holds across teams.
    """
    now = timezone.now()
    if conv.assignee_id == agent.pk or conv.status != Conversation.Status.OPEN:
        return bool(Agent.objects.filter(pk=agent.pk).update(last_assigned_at=now))
    room = Q(max_open__isnull=True) | Q(open_count__lt=F("max_open"))
    return bool(Agent.objects.filter(room, pk=agent.pk).update(open_count=F("open_count") + 1, last_assigned_at=now))


def _team_for(agent: Agent, current: Team | None) -> Team | None:
    """Keep the conversation's team when the agent belongs to it; else the agent's first team."""
    teams = list(agent.teams.all())
    if current is not None and any(t.pk == current.pk for t in teams):
        return current
    return teams[0] if teams else current


def _set_assignee(conv: Conversation, agent: Agent | None, team: Team | None, rules: AssignRules) -> None:
    """Move the conversation (and, when open, its open count) to ``agent``; ``agent`` None queues it
    in ``team`` under ``rules``. The new agent's count was taken by ``_take``. Caller holds the
    conversation lock."""
    previous_id = conv.assignee_id
    if conv.status == Conversation.Status.OPEN and previous_id is not None and previous_id != (agent and agent.pk):
        Agent.objects.filter(pk=previous_id, open_count__gt=0).update(open_count=F("open_count") - 1)
        _capacity_freed(previous_id)
    conv.assignee = agent
    conv.team = team
    if agent is not None:
        conv.queued_at, conv.queue_rules = None, {}
    else:
        conv.queued_at = conv.queued_at or timezone.now()  # re-queued: keeps its place in line
        conv.queue_rules = {
            "strategy": rules.strategy,
            "online_only": rules.online_only,
            "on_shift_only": rules.on_shift_only,
        }
    conv.save(update_fields=["assignee", "team", "queued_at", "queue_rules"])
    if agent is not None and previous_id != agent.pk:
        from inbox import notifications

        notifications.conversation_assigned(conv, agent)


def unassign(conversation: Conversation, *, reason: str = "", idempotency_key: str | None = None) -> None:
    """Take the conversation from its agent; it stays in its team, not queued (agents pick it up)."""
    with transaction.atomic(savepoint=False):
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous_id = conv.assignee_id
        if conv.status == Conversation.Status.OPEN and previous_id is not None:
            Agent.objects.filter(pk=previous_id, open_count__gt=0).update(open_count=F("open_count") - 1)
            _capacity_freed(previous_id)
        conv.assignee, conv.queued_at = None, None
        conv.save(update_fields=["assignee", "queued_at"])
        Assignment.objects.create(
            conversation=conv, team=conv.team, agent=None, reason=reason, idempotency_key=idempotency_key
        )
        conversation.assignee, conversation.queued_at = None, None


def close_conversation(conversation: Conversation, *, by_run_id: int | None = None) -> bool:
    """Close an open conversation; False when it was already closed."""
    from routing import services as routing_services

    with transaction.atomic(savepoint=False):
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.status != Conversation.Status.OPEN:
            return False
        if conv.assignee_id is not None:
            Agent.objects.filter(pk=conv.assignee_id, open_count__gt=0).update(open_count=F("open_count") - 1)
            _capacity_freed(conv.assignee_id)
        conv.status = Conversation.Status.CLOSED
        conv.closed_at, conv.queued_at = timezone.now(), None
        conv.save(update_fields=["status", "closed_at", "queued_at"])
        conversation.status, conversation.closed_at = conv.status, conv.closed_at
        webhooks.emit("conversation.closed", conv, lambda: webhooks.closed_data(conv), f"{conv.pk}:{conv.closed_at}")
        routing_services.on_conversation_closed(conv, except_run_id=by_run_id)
    return True


def reopen_conversation(conversation: Conversation) -> bool:
    """Reopen a closed conversation unless the contact already has another open one there."""
    with transaction.atomic(savepoint=False):
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.status == Conversation.Status.OPEN:
            return False
        if Conversation.objects.filter(contact=conv.contact_id, channel=conv.channel_id, status="open").exists():
            raise ValidationError(_("The contact already has an open conversation on this channel."))
        conv.status, conv.closed_at = Conversation.Status.OPEN, None
        conv.save(update_fields=["status", "closed_at"])
        if conv.assignee_id is not None:
            Agent.objects.filter(pk=conv.assignee_id).update(open_count=F("open_count") + 1)
        conversation.status, conversation.closed_at = conv.status, None
        team, agent = conv.team, conv.assignee
        if team is not None and team.reroute_reopened and (agent is None or agent.availability != "online"):
            who = agent.username if agent else _("nobody")
            assign(
                conversation,
                team=team,
                online_only=True,
                exclude_current=True,
                queue=True,
                reason=_("Reopened while %(who)s is not online.") % {"who": who},
            )
    return True


# --- Outbox -------------------------------------------------------------------------------------

DELIVERY_LEASE = timedelta(seconds=60)
DELIVERY_MAX_ATTEMPTS = 8


def claim_delivery(message_id: int) -> Delivery | None:
    """Claim a due delivery with a conditional update; None when another worker has it or it is done."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        message_id=message_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + DELIVERY_LEASE)
    if not claimed:
        return None
    return Delivery.objects.select_related("message__conversation__channel", "message__conversation__contact").get(
        message_id=message_id
    )


def finish_delivery(delivery: Delivery, *, error: str = "") -> timedelta | None:
    """Record the attempt's outcome; the delay before the next attempt, or None when finished."""
    now = timezone.now()
    if not error:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.DELIVERED, delivered_at=now, last_error=""
        )
        return None
    if delivery.attempts >= DELIVERY_MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=error[:2000])
        return None
    delay = timedelta(seconds=min(2**delivery.attempts, 3600))
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + delay, last_error=error[:2000])
    return delay


def due_delivery_ids(limit: int = 100) -> list[int]:
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("message_id", flat=True)[:limit]
    )


# --- Agents and teams ---------------------------------------------------------------------------


def create_agent(
    *,
    username: str,
    email: str = "",
    name: str = "",
    teams: list[Team] | None = None,
    availability: str = Agent.Availability.OFFLINE,
    password: str | None = None,
    is_superuser: bool = False,
) -> Agent:
    """A user with its agent profile; without a password the user cannot log in until one is set."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    first, _sep, last = name.strip().partition(" ")
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": [_("A user with that username already exists.")]})
        user = User(
            username=username,
            email=email,
            first_name=first,
            last_name=last,
            is_staff=is_superuser,
            is_superuser=is_superuser,
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        agent = Agent.objects.create(user=user, availability=availability)
        if teams:
            agent.teams.set(teams)
    return agent


def set_availability(agent: Agent, availability: str) -> Agent:
    """Online: the agent's teams' queues drain to them. Offline: teams that opted in take their
    open conversations back and reassign them."""
    if availability not in Agent.Availability.values:
        raise ValidationError({"availability": [_("Choose online, away or offline.")]})
    with transaction.atomic():
        changed = Agent.objects.filter(pk=agent.pk).exclude(availability=availability).update(availability=availability)
        if changed and availability == Agent.Availability.ONLINE:
            _capacity_freed(agent.pk)
        elif changed and availability == Agent.Availability.OFFLINE:
            from inbox.tasks import reassign_from_offline

            transaction.on_commit(lambda: reassign_from_offline.delay(agent.pk))
    agent.availability = availability
    return agent


def mark_idle_agents_offline(*, now=None) -> int:
    """Agents online in the inbox but unseen for AGENT_IDLE_MINUTES go offline (those never seen
    in the inbox, e.g. integrations driving the API, are left alone)."""
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.AGENT_IDLE_MINUTES)
    idle = Agent.objects.filter(availability=Agent.Availability.ONLINE, last_seen_at__lt=cutoff)
    count = 0
    for agent in idle.select_related("user")[:500]:
        set_availability(agent, Agent.Availability.OFFLINE)
        count += 1
    return count


# --- The team queue -----------------------------------------------------------------------------


def _capacity_freed(agent_id: int) -> None:
    """After commit, hand waiting conversations of the agent's teams out (they may take one now)."""
    from inbox.tasks import drain_queues

    transaction.on_commit(lambda: drain_queues.delay(agent_id=agent_id))


def queued_team_ids(*, agent_id: int | None = None) -> list[int]:
    """Teams with conversations waiting in their queue (of one agent's teams, if given)."""
    waiting = Conversation.objects.filter(queued_at__isnull=False, status=Conversation.Status.OPEN)
    if agent_id is not None:
        waiting = waiting.filter(team__agents=agent_id)
    return list(waiting.order_by().values_list("team_id", flat=True).distinct())


def drain_queue(team: Team, *, limit: int = 200) -> int:
    """Assign the team's waiting conversations, oldest first, while someone can take one.

    Each is assigned in its own transaction by ``assign`` (conversation lock, then team lock), so
    draining keeps the one lock order and a concurrent drain cannot assign a conversation twice.
    Each goes by the rules of the assignment that queued it (strategy, online only, on shift
    only); once nobody can take a conversation under some rules, later ones under the same rules
    are skipped.
    """
    waiting = (
        Conversation.objects.filter(team=team, queued_at__isnull=False, status=Conversation.Status.OPEN)
        .order_by("queued_at", "pk")
        .values_list("pk", "queue_rules")
    )
    assigned, nobody_for = 0, set()
    for pk, stored in list(waiting[:limit]):
        rules = (
            stored.get("strategy") if stored.get("strategy") in Strategy.ALL else Strategy.ROUND_ROBIN,
            bool(stored.get("online_only", True)),
            bool(stored.get("on_shift_only", False)),
        )
        if rules in nobody_for:
            continue
        result = assign(
            Conversation(pk=pk),
            team=team,
            strategy=rules[0],
            online_only=rules[1],
            on_shift_only=rules[2],
            reason=_("Waited in the queue of %(team)s.") % {"team": team.name},
            only_if_queued=True,
        )
        if result.assigned:
            assigned += 1
        elif result.queued:
            nobody_for.add(rules)
    return assigned


def reassign_from_offline(agent: Agent) -> int:
    """Open conversations of an offline agent, in teams that opted in, go to someone online."""
    moved = 0
    mine = Conversation.objects.filter(
        assignee=agent, status=Conversation.Status.OPEN, team__reassign_when_offline=True
    ).select_related("team")
    for conversation in mine[:500]:
        if Agent.objects.filter(pk=agent.pk, availability=Agent.Availability.ONLINE).exists():
            break  # back online meanwhile
        result = assign(
            conversation,
            team=conversation.team,
            online_only=True,
            on_shift_only=conversation.team.shifts.exists(),
            exclude_current=True,
            queue=True,
            reason=_("%(agent)s went offline.") % {"agent": agent.username},
        )
        moved += result.assigned or result.queued
    return moved
