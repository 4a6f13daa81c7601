from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Workflow(models.Model):
    """A routing workflow. ``definition`` is the editable draft; only published versions run."""

    class Trigger(models.TextChoices):
        CONVERSATION_OPENED = "conversation_opened", _("Conversation opened")
        SHORTCUT = "shortcut", _("Shortcut")

    name = models.CharField(_("name"), max_length=200)
    trigger_type = models.CharField(
        _("trigger"), max_length=32, choices=Trigger.choices, default=Trigger.CONVERSATION_OPENED, editable=False
    )
    definition = models.JSONField(_("draft definition"), default=dict)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive workflows start no new runs; runs under way finish.")
    )
    published_version = models.ForeignKey(
        "WorkflowVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("live version"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("workflow")
        verbose_name_plural = _("workflows")
        indexes = [models.Index(fields=["trigger_type", "is_active"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # The trigger that starts runs is the live version's; a draft's only until first publish.
        live = self.published_version.definition if self.published_version_id else self.definition
        trigger = (live or {}).get("trigger") or {}
        if isinstance(trigger, dict) and trigger.get("type") in self.Trigger.values:
            self.trigger_type = trigger["type"]
        super().save(*args, **kwargs)

    @property
    def has_unpublished_changes(self) -> bool:
        return self.published_version is None or self.published_version.definition != self.definition


class WorkflowVersion(models.Model):
    """An immutable, validated, published definition. Runs are pinned to one."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    published_at = models.DateTimeField(_("published"), auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["workflow", "-number"]
        verbose_name = _("workflow version")
        verbose_name_plural = _("workflow versions")
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_unique")]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        from inbox.models import Conversation

        return self.filter(conversation__in=Conversation.objects.visible_to(user))

    def with_pending_timer(self) -> RunQuerySet:
        return self.annotate(has_pending_timer=models.Exists(Timer.objects.pending().filter(run=models.OuterRef("pk"))))

    def stuck(self, *, now=None) -> RunQuerySet:
        """Runs that will never resume on their own: waiting for a timer that is not there, for an
        answer on a closed conversation, or running (or in an HTTP call) untouched for STALL."""
        from django.utils import timezone

        stale = (now or timezone.now()) - Run.STALL
        return self.with_pending_timer().filter(
            Q(status=Run.Status.WAITING_TIMER, has_pending_timer=False)
            | Q(status=Run.Status.WAITING_ANSWER, conversation__status="closed")
            | Q(status__in=[Run.Status.RUNNING, Run.Status.WAITING_HTTP], updated_at__lt=stale)
        )


class Run(models.Model):
    """One execution of a workflow version for one conversation."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        WAITING_ANSWER = "waiting_answer", _("Waiting for the contact's answer")
        WAITING_TIMER = "waiting_timer", _("Waiting for a timer")
        WAITING_HTTP = "waiting_http", _("Waiting for an HTTP request")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    WAITING = (Status.WAITING_ANSWER, Status.WAITING_TIMER, Status.WAITING_HTTP)
    # A run running (or in an HTTP call) untouched this long is stuck: the 30 s stalled-run sweep
    # has re-enqueued it many times over without effect.
    STALL = datetime.timedelta(minutes=10)

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    current_step = models.CharField(_("current step"), max_length=100, blank=True, default="")
    # Incremented by every step transition; with the run id it keys the step's effects.
    seq = models.PositiveIntegerField(default=0)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    # Engine bookkeeping: retries used per question, jumps taken per step.
    state = models.JSONField(default=dict, blank=True, editable=False)
    error = models.TextField(_("error"), blank=True, default="")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        indexes = [models.Index(fields=["conversation", "status"]), models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.workflow} run #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class RunLog(models.Model):
    """One line of a run's log: a step, its outcome and why, in words an admin understands."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log")
    seq = models.PositiveIntegerField()
    step = models.CharField(_("step"), max_length=100)
    step_type = models.CharField(_("type"), max_length=32)
    outcome = models.CharField(_("outcome"), max_length=32)
    detail = models.TextField(_("detail"), blank=True, default="")
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        verbose_name = _("run log entry")
        verbose_name_plural = _("run log")

    def __str__(self) -> str:
        return f"{self.step} ({self.step_type}): {self.outcome}"


class TimerQuerySet(models.QuerySet):
    def pending(self) -> TimerQuerySet:
        return self.filter(fired_at__isnull=True, cancelled_at__isnull=True)


class Timer(models.Model):
    """Delayed work kept in the database: a wait step or a question timeout.

    The poller claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` so that each
    timer fires once whatever the number of workers; the broker only carries the wake-up.
    """

    class Kind(models.TextChoices):
        WAIT = "wait", _("Wait")
        QUESTION_TIMEOUT = "question_timeout", _("Question timeout")

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="timers")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # The run's seq when the timer was set: a run that moved on ignores it.
    seq = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = TimerQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(fired_at__isnull=True, cancelled_at__isnull=True), name="timer_due_idx"
            )
        ]
        constraints = [models.UniqueConstraint(fields=["run", "seq", "kind"], name="timer_once_per_step")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of run #{self.run_id} due {self.due_at:%Y-%m-%d %H:%M:%S}"


# --- Integrations: HTTP request step ------------------------------------------------------------


class Connection(models.Model):
    """An external service the HTTP request step calls by name, with its secret headers.

    The secrets (an API key header) are stored once here, added to the request when it is sent,
    and never written to a run, its log or the workflow JSON.
    """

    name = models.CharField(_("name"), max_length=100, unique=True, help_text=_('Steps refer to it: "connection".'))
    base_url = models.URLField(
        _("base URL"),
        max_length=500,
        blank=True,
        default="",
        help_text=_('Optional. A step URL starting with "/" is appended to it.'),
    )
    secret_headers = models.JSONField(
        _("secret headers"),
        default=dict,
        blank=True,
        help_text=_('Sent with every request of this connection, e.g. {"X-Api-Key": "..."}; never logged.'),
    )
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from routing.steps.http import header_errors

        if not isinstance(self.secret_headers, dict):
            raise ValidationError({"secret_headers": _("Give an object from header name to value.")})
        errors = header_errors(self.secret_headers, templates=False)
        if errors:
            raise ValidationError({"secret_headers": errors})


class AllowedHost(models.Model):
    """A host name, address or network the HTTP request step may reach although it is internal."""

    value = models.CharField(
        _("host or network"),
        max_length=255,
        unique=True,
        help_text=_("A host name (crm.internal, *.corp.example), an address (10.0.0.7) or a network (10.0.0.0/8)."),
    )
    note = models.CharField(_("note"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["value"]
        verbose_name = _("allowed host")
        verbose_name_plural = _("HTTP allowlist")

    def __str__(self) -> str:
        return self.value

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from routing.ssrf import validate_allowlist_entry

        self.value = (self.value or "").strip().lower()
        error = validate_allowlist_entry(self.value)
        if error:
            raise ValidationError({"value": error})
