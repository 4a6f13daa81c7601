from __future__ import annotations

import datetime
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known IANA time zone, e.g. Europe/Madrid."), params={"value": value}
        )


class Team(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True)
    reassign_when_offline = models.BooleanField(
        _("reassign when the assignee goes offline"),
        default=False,
        help_text=_("Open conversations of an agent who goes offline go back to this team's queue and are reassigned."),
    )
    reroute_reopened = models.BooleanField(
        _("route reopened conversations again"),
        default=False,
        help_text=_("A reopened conversation whose agent is offline is assigned again within this team."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """An agent: the helpdesk profile of a user."""

    class Availability(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    teams = models.ManyToManyField(
        Team, through="Membership", related_name="agents", blank=True, verbose_name=_("teams")
    )
    availability = models.CharField(
        _("availability"), max_length=16, choices=Availability.choices, default=Availability.OFFLINE
    )
    max_open = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Most open conversations at once; empty for no limit.")
    )
    open_count = models.PositiveIntegerField(_("open conversations"), default=0, editable=False)
    last_assigned_at = models.DateTimeField(_("last assigned"), null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)
    language = models.CharField(_("language"), max_length=16, choices=settings.LANGUAGES, default="en")
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_timezone])

    class Meta:
        ordering = ["user__username"]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        indexes = [models.Index(fields=["availability", "open_count", "last_assigned_at"])]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.username

    @property
    def username(self) -> str:
        return self.user.username


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class Membership(models.Model):
    """An agent's place in a team (the table of ``Agent.teams``).

    It carries copies of what picking an agent sorts and filters on: whether the agent is online,
    whether they can take one more conversation (active user, under capacity), their open count
    and when they were last assigned. Database triggers (migration 0004) copy them from the agent
    and user rows in the same statement that changes those, whatever the path (services, admin,
    bulk updates), so they cannot drift. Picking the next agent of a team is then one range scan
    of one of the partial indexes below, whatever the team's size.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team"))
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("agent"))
    online = models.BooleanField(default=False, editable=False)
    can_take = models.BooleanField(default=False, editable=False)
    open_count = models.PositiveIntegerField(default=0, editable=False)
    last_assigned_at = models.DateTimeField(default=EPOCH, editable=False)  # EPOCH: never

    class Meta:
        db_table = "inbox_agent_teams"
        unique_together = [("agent", "team")]
        verbose_name = _("team membership")
        verbose_name_plural = _("team memberships")
        indexes = [
            models.Index(
                fields=["team", "open_count", "last_assigned_at", "agent"],
                condition=Q(can_take=True),
                name="pick_least_open_idx",
            ),
            models.Index(
                fields=["team", "last_assigned_at", "agent"], condition=Q(can_take=True), name="pick_round_robin_idx"
            ),
            models.Index(
                fields=["team", "open_count", "last_assigned_at", "agent"],
                condition=Q(can_take=True, online=True),
                name="pick_least_open_online_idx",
            ),
            models.Index(
                fields=["team", "last_assigned_at", "agent"],
                condition=Q(can_take=True, online=True),
                name="pick_round_robin_online_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.team}"


class Channel(models.Model):
    class Kind(models.TextChoices):
        API = "api", _("API")
        WEB_CHAT = "web_chat", _("Web chat")
        EMAIL = "email", _("E-mail")
        WHATSAPP = "whatsapp", _("WhatsApp")
        TELEGRAM = "telegram", _("Telegram")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.API)
    name = models.CharField(_("name"), max_length=128, unique=True)
    webhook_url = models.URLField(
        _("webhook URL"), blank=True, default="", help_text=_("Outgoing messages are POSTed here.")
    )
    webhook_secret = models.CharField(
        _("webhook secret"), max_length=128, default=new_webhook_secret, help_text=_("Signs outgoing webhooks.")
    )
    language = models.CharField(
        _("language"), max_length=16, blank=True, default="", help_text=_("Given to contacts who have none.")
    )
    country = models.CharField(
        _("country"), max_length=2, blank=True, default="", help_text=_("Given to contacts who have none.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name


class ConversationQuerySet(models.QuerySet):
    def visible_to(self, user) -> ConversationQuerySet:
        """Admins see everything; an agent sees its teams' conversations and its own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        agent = getattr(user, "agent", None)
        if agent is None:
            return self.none()
        return self.filter(Q(team__agents=agent) | Q(assignee=agent)).distinct()

    def open(self) -> ConversationQuerySet:
        return self.filter(status=Conversation.Status.OPEN)


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    class Source(models.TextChoices):
        CONTACT = "contact", _("Contact")
        AGENT = "agent", _("Agent")
        API = "api", _("API")

    contact = models.ForeignKey("contacts.Contact", on_delete=models.PROTECT, related_name="conversations")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.CONTACT)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations", verbose_name=_("team")
    )
    assignee = models.ForeignKey(
        Agent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("assignee"),
    )
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_incoming_at = models.DateTimeField(_("last incoming message"), null=True, blank=True)
    last_outgoing_at = models.DateTimeField(_("last outgoing message"), null=True, blank=True)
    # Set while the conversation waits unassigned in its team's queue; the queue drains oldest first.
    queued_at = models.DateTimeField(_("queued since"), null=True, blank=True, editable=False)
    # Who may take it when it leaves the queue: the strategy and filters of the assignment that
    # queued it ({"strategy", "online_only", "on_shift_only"}).
    queue_rules = models.JSONField(default=dict, blank=True, editable=False)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["status", "team", "-opened_at"]),
            models.Index(fields=["assignee", "status", "-opened_at"]),
            # The inbox's "All" tab (admins): newest first, with or without a status.
            models.Index(fields=["status", "-opened_at"], name="conversation_status_opened_idx"),
            models.Index(fields=["-opened_at"], name="conversation_opened_idx"),
            models.Index(
                fields=["team", "queued_at"], condition=Q(queued_at__isnull=False), name="conversation_queue_idx"
            ),
        ]
        constraints = [
            # At most one open conversation per contact and channel: new messages append to it.
            models.UniqueConstraint(
                fields=["contact", "channel"], condition=Q(status="open"), name="one_open_conversation_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming", _("Incoming")
        OUTGOING = "outgoing", _("Outgoing")
        COMMENT = "comment", _("Internal comment")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(_("direction"), max_length=16, choices=Direction.choices)
    text = models.TextField(_("text"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)
    # Set for messages written by automation: "run:<id>:<seq>"; a retried step cannot post twice.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.text[:40]}"

    @property
    def author_name(self) -> str:
        if self.author_id is None:
            return "contact" if self.direction == self.Direction.INCOMING else "bot"
        return self.author.get_username()


class Assignment(models.Model):
    """History: who a conversation was given to, when, and by what."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="assignments")
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="assignments")
    reason = models.CharField(_("reason"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")

    def __str__(self) -> str:
        return f"#{self.conversation_id} → {self.agent or self.team or '-'}"


class WebhookSubscription(models.Model):
    """An integrator's endpoint for events (message.outgoing, conversation.assigned ...).

    Each event becomes a signed, retried delivery of the outbox. A channel's own webhook URL
    keeps receiving that channel's outgoing messages, subscription or not.
    """

    class Event(models.TextChoices):
        MESSAGE_OUTGOING = "message.outgoing", _("Outgoing message")
        CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversation assigned")
        CONVERSATION_CLOSED = "conversation.closed", _("Conversation closed")
        RUN_FAILED = "run.failed", _("Workflow run failed")

    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("secret"), max_length=128, default=new_webhook_secret, help_text=_("Signs each delivery (HMAC-SHA256).")
    )
    events = models.JSONField(_("events"), default=list, help_text=_('The events to send, e.g. ["run.failed"].'))
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        verbose_name=_("channel"),
        help_text=_("Only events of this channel's conversations; empty for all channels."),
    )
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        events = self.events
        if not isinstance(events, list) or not events or not all(e in self.Event.values for e in events):
            raise ValidationError(
                {"events": _("Choose one or more of: %(events)s.") % {"events": ", ".join(self.Event.values)}}
            )

    def wants(self, event: str, channel_id: int | None) -> bool:
        return self.active and event in (self.events or []) and self.channel_id in (None, channel_id)


class Delivery(models.Model):
    """Outbox row: one event to POST to one endpoint, signed, retried with backoff, sent once.

    Rows with a ``message`` and no ``subscription`` are the channel's own webhook (message.outgoing
    to ``Channel.webhook_url``); rows with a ``subscription`` carry their event's ``payload``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="delivery", null=True, blank=True)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    event = models.CharField(_("event"), max_length=32, default=WebhookSubscription.Event.MESSAGE_OUTGOING)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    # Unique per event and endpoint: an event emitted twice (a retried step) is stored once; the
    # receiver gets it in the X-Helpdesk-Idempotency-Key header to drop replays on its side too.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.status})"


# --- Schedules and shifts -----------------------------------------------------------------------


class Schedule(models.Model):
    """Weekly opening hours in a named time zone, with closed dates (holidays)."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")

    def __str__(self) -> str:
        return self.name


class ScheduleRange(models.Model):
    """One opening range on one weekday, in the schedule's time zone; ``end`` 00:00 means midnight."""

    class Weekday(models.IntegerChoices):
        MON = 0, _("Monday")
        TUE = 1, _("Tuesday")
        WED = 2, _("Wednesday")
        THU = 3, _("Thursday")
        FRI = 4, _("Friday")
        SAT = 5, _("Saturday")
        SUN = 6, _("Sunday")

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="ranges")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))

    class Meta:
        ordering = ["schedule", "weekday", "start"]
        verbose_name = _("opening range")
        verbose_name_plural = _("opening hours")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class ClosedDate(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="closed_dates")
    date = models.DateField(_("date"))
    note = models.CharField(_("note"), max_length=128, blank=True, default="")

    class Meta:
        ordering = ["schedule", "date"]
        verbose_name = _("closed date")
        verbose_name_plural = _("closed dates")
        constraints = [models.UniqueConstraint(fields=["schedule", "date"], name="closed_date_unique")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d}"


class Shift(models.Model):
    """Who of a team is on duty when: the agents listed are on shift while the schedule is open."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="shifts", verbose_name=_("team"))
    name = models.CharField(_("name"), max_length=128)
    schedule = models.ForeignKey(Schedule, on_delete=models.PROTECT, related_name="shifts", verbose_name=_("hours"))
    agents = models.ManyToManyField(Agent, related_name="shifts", blank=True, verbose_name=_("agents"))

    class Meta:
        ordering = ["team", "name"]
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="shift_name_unique_per_team")]

    def __str__(self) -> str:
        return f"{self.team}: {self.name}"


# --- Notifications ------------------------------------------------------------------------------


class Notification(models.Model):
    """Something an agent should look at: a conversation assigned to them, a comment for them."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Conversation assigned")
        COMMENT = "comment", _("New comment")
        MESSAGE = "message", _("New message")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    text = models.CharField(_("text"), max_length=500)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    # Automation that notifies passes its step key, so a retried step cannot notify twice.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return self.text
