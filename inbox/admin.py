from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from inbox import schedules, services
from inbox.models import (
    Agent,
    Assignment,
    Channel,
    ClosedDate,
    Conversation,
    Delivery,
    Membership,
    Message,
    Notification,
    Schedule,
    ScheduleRange,
    Shift,
    Team,
    WebhookSubscription,
)
from routing.models import Run


class ReadOnlyInline(admin.TabularInline):
    """History shown under its parent: nothing to add, change or delete."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the system (messages, assignments, deliveries): viewable, not editable."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Teams and agents ---------------------------------------------------------------------------


class TeamMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["agent"]
    autocomplete_fields = ["agent"]
    verbose_name = _("agent")
    verbose_name_plural = _("agents")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("agent__user", "team")


class ShiftInline(admin.TabularInline):
    model = Shift
    extra = 0
    fields = ["name", "schedule"]
    show_change_link = True
    verbose_name_plural = _("shifts (edit one to choose its agents)")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "agent_count", "queued", "reassign_when_offline", "reroute_reopened", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    fields = ["name", "reassign_when_offline", "reroute_reopened", "created_at"]
    inlines = [TeamMembershipInline, ShiftInline]

    @admin.display(description=_("waiting in queue"), ordering="_queued")
    def queued(self, obj: Team) -> int:
        return obj._queued

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        waiting = Conversation.objects.filter(team=OuterRef("pk"), queued_at__isnull=False, status="open")
        queued = Subquery(waiting.order_by().values("team").annotate(n=Count("pk")).values("n"))
        return super().get_queryset(request).annotate(_agent_count=Count("agents"), _queued=Coalesce(queued, 0))

    @admin.display(description=_("agents"), ordering="_agent_count")
    def agent_count(self, obj: Team) -> int:
        return obj._agent_count


class AgentMembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ["team"]
    autocomplete_fields = ["team"]
    verbose_name = _("team")
    verbose_name_plural = _("teams")


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["username", "full_name", "team_names", "availability", "open_count", "max_open", "language"]
    list_filter = ["availability", "teams", "language"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["open_count", "last_assigned_at", "last_seen_at"]
    inlines = [AgentMembershipInline]
    fields = [
        "user",
        "availability",
        "max_open",
        "open_count",
        "last_assigned_at",
        "last_seen_at",
        "language",
        "timezone",
    ]
    actions = ["set_online", "set_away", "set_offline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).select_related("user").prefetch_related("teams")

    @admin.display(description=_("username"), ordering="user__username")
    def username(self, obj: Agent) -> str:
        return obj.user.username

    @admin.display(description=_("name"))
    def full_name(self, obj: Agent) -> str:
        return obj.user.get_full_name()

    @admin.display(description=_("teams"))
    def team_names(self, obj: Agent) -> str:
        return ", ".join(team.name for team in obj.teams.all())

    def _set_availability(self, request: HttpRequest, queryset: QuerySet[Agent], availability: str) -> None:
        agents = list(queryset)
        for agent in agents:
            services.set_availability(agent, availability)
        self.message_user(
            request,
            _("%(count)d agent(s) are now %(availability)s.")
            % {"count": len(agents), "availability": Agent.Availability(availability).label.lower()},
            messages.SUCCESS,
        )

    @admin.action(description=_("Set selected agents online"), permissions=["change"])
    def set_online(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_availability(request, queryset, Agent.Availability.ONLINE)

    @admin.action(description=_("Set selected agents away"), permissions=["change"])
    def set_away(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_availability(request, queryset, Agent.Availability.AWAY)

    @admin.action(description=_("Set selected agents offline"), permissions=["change"])
    def set_offline(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_availability(request, queryset, Agent.Availability.OFFLINE)


# --- Schedules and shifts -----------------------------------------------------------------------


class ScheduleRangeFormSet(forms.BaseInlineFormSet):
    """Refuse inverted and overlapping ranges across the whole week, not form by form."""

    def clean(self) -> None:
        super().clean()
        ranges = [
            (form.cleaned_data["weekday"], form.cleaned_data["start"], form.cleaned_data["end"])
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and {"weekday", "start", "end"} <= set(form.cleaned_data)
        ]
        errors = schedules.check_ranges(ranges)
        if errors:
            raise ValidationError(errors)


class ScheduleRangeInline(admin.TabularInline):
    model = ScheduleRange
    formset = ScheduleRangeFormSet
    extra = 1
    help_text = _("A range until 00:00 runs to midnight; split a night shift in two ranges.")


class ClosedDateInline(admin.TabularInline):
    model = ClosedDate
    extra = 1


class ScheduleForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        label=_("time zone"), choices=[(tz, tz) for tz in sorted(zoneinfo.available_timezones())], initial="UTC"
    )

    class Meta:
        model = Schedule
        fields = ["name", "timezone"]


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "timezone", "open_now"]
    search_fields = ["name"]
    inlines = [ScheduleRangeInline, ClosedDateInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        return super().get_queryset(request).prefetch_related("ranges", "closed_dates")

    @admin.display(description=_("open now"), boolean=True)
    def open_now(self, obj: Schedule) -> bool:
        return schedules.from_model(obj).is_open(timezone.now())


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "schedule", "agent_names"]
    list_filter = ["team"]
    search_fields = ["name", "team__name"]
    list_select_related = ["team", "schedule"]
    filter_horizontal = ["agents"]
    autocomplete_fields = ["team", "schedule"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Shift]:
        return super().get_queryset(request).prefetch_related("agents__user")

    @admin.display(description=_("agents"))
    def agent_names(self, obj: Shift) -> str:
        return ", ".join(agent.username for agent in obj.agents.all())


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["text", "recipient", "kind", "conversation", "created_at", "read_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient", "conversation"]
    raw_id_fields = ["conversation"]


# --- Channels -----------------------------------------------------------------------------------


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "id", "kind", "webhook_url", "language", "country", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "webhook_url"]

    def get_fields(self, request: HttpRequest, obj: Channel | None = None) -> list[str]:
        fields = ["kind", "name", "webhook_url", "language", "country"]
        if obj is None:
            # The secret is generated on creation and only shown afterwards.
            return fields
        return [*fields, "webhook_secret", "incoming_endpoint", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> list[str]:
        if obj is None:
            return []
        return ["webhook_secret", "incoming_endpoint", "created_at"]

    @admin.display(description=_("incoming messages endpoint"))
    def incoming_endpoint(self, obj: Channel) -> str:
        return format_html("<code>POST /api/v1/channels/{}/incoming/</code>", obj.pk)


# --- Conversations ------------------------------------------------------------------------------


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["created_at", "direction", "author", "text"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("author")


class AssignmentInline(ReadOnlyInline):
    model = Assignment
    fields = ["created_at", "team", "agent", "reason"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Assignment]:
        return super().get_queryset(request).select_related("team", "agent__user")


class RunInline(ReadOnlyInline):
    model = Run
    fields = ["run_link", "workflow", "version_number", "status", "current_step", "started_at", "finished_at"]
    readonly_fields = fields
    verbose_name_plural = _("workflow runs")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        return super().get_queryset(request).select_related("workflow", "version")

    @admin.display(description=_("run"))
    def run_link(self, obj: Run) -> str:
        url = reverse("admin:routing_run_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.pk)

    @admin.display(description=_("version"))
    def version_number(self, obj: Run) -> int:
        return obj.version.number


class AssigneeFilter(admin.SimpleListFilter):
    """Agents by name in one query (the default related filter reads each agent's user apart)."""

    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        agents = Agent.objects.select_related("user")
        return [("none", _("Unassigned")), *((str(agent.pk), str(agent)) for agent in agents)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        value = self.value()
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class ConversationForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["contact", "channel", "source", "status", "team", "assignee"]
        help_texts = {
            "team": _(
                "Changing only the team routes the conversation there: an agent of the team is picked "
                "round robin, or it waits in the team's queue."
            ),
            "assignee": _("The agent's open-conversation count follows the conversation."),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        if "team" in self.changed_data and cleaned.get("team") is None and self.instance.team_id is not None:
            # clean() runs before the form copies its data onto the instance: this is the stored team.
            self.add_error("team", _("A routed conversation stays in a team; choose another team instead."))
        if "team" in self.changed_data and "assignee" in self.changed_data and cleaned.get("assignee") is None:
            self.add_error("assignee", _("Either clear the assignee or change the team, not both at once."))
        return cleaned


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationForm
    list_display = ["id", "contact", "channel", "status", "team", "assignee", "opened_at"]
    list_display_links = ["id", "contact"]
    list_filter = ["status", "team", "channel", AssigneeFilter]
    list_select_related = ["contact", "channel", "team", "assignee__user"]
    search_fields = ["contact__name", "contact__email"]
    raw_id_fields = ["contact"]
    readonly_fields = ["opened_at", "closed_at", "last_incoming_at", "last_outgoing_at"]
    fieldsets = [
        (None, {"fields": ["contact", "channel", "source", "status"]}),
        (_("Routing"), {"fields": ["team", "assignee"]}),
        (_("Activity"), {"fields": ["opened_at", "closed_at", "last_incoming_at", "last_outgoing_at"]}),
    ]
    inlines = [MessageInline, AssignmentInline, RunInline]
    date_hierarchy = "opened_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Conversations open when a contact writes on a channel (or through the API).
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("contact", "channel", "team", "assignee__user")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            # Agents are named after their users: one query for the whole dropdown.
            kwargs["queryset"] = Agent.objects.select_related("user")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Conversation, form: forms.ModelForm, change: bool) -> None:
        """Plain fields are saved as they are; routing and status go through the inbox services.

        Assignment keeps agents' open counts and the assignment history right, closing ends the
        conversation's runs: the same paths the inbox and the API take.
        """
        if not change:
            super().save_model(request, obj, form, change)
            return
        changed = set(form.changed_data)
        plain = sorted(changed & {"contact", "channel", "source"})
        if plain:
            obj.save(update_fields=plain)
        reason = _("Changed in the admin by %(user)s.") % {"user": request.user.get_username()}
        result = None
        if "assignee" in changed:
            if obj.assignee is not None:
                team = obj.team if "team" in changed else None
                result = services.assign(obj, agent=obj.assignee, team=team, reason=reason)
            else:
                services.unassign(obj, reason=reason)
        elif "team" in changed and obj.team is not None:
            result = services.assign(obj, team=obj.team, reason=reason)
        if result is not None:
            self.message_user(request, result.detail, messages.SUCCESS if result.assigned else messages.WARNING)
        if "status" in changed:
            try:
                if obj.status == Conversation.Status.CLOSED:
                    services.close_conversation(obj)
                else:
                    services.reopen_conversation(obj)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "direction", "author", "short_text", "created_at"]
    list_filter = ["direction", "created_at"]
    list_select_related = ["conversation__contact", "author"]
    search_fields = ["text"]
    raw_id_fields = ["conversation"]
    date_hierarchy = "created_at"

    @admin.display(description=_("text"))
    def short_text(self, obj: Message) -> str:
        return Truncator(obj.text).chars(80)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "team", "agent", "reason", "created_at"]
    list_filter = ["team", "created_at"]
    list_select_related = ["conversation__contact", "team", "agent__user"]
    search_fields = ["reason", "agent__user__username"]
    raw_id_fields = ["conversation"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: every webhook POST of the outbox, with attempts and the last error."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "id",
        "event",
        "subscription",
        "message",
        "url",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "subscription"]
    list_select_related = ["message", "subscription"]
    search_fields = ["url", "last_error", "idempotency_key"]
    raw_id_fields = ["message"]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    @admin.action(description=_("Send the selected failed deliveries again"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        from inbox import webhooks

        count = webhooks.retry(queryset)
        self.message_user(request, _("%(n)d deliveries will be sent again.") % {"n": count}, messages.SUCCESS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only rows, but the "send again" action needs the change permission of the list.
        return obj is None and request.user.is_superuser


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookSubscription.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "events", "channel", "active", "secret", "description"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["url", "event_list", "channel", "active", "created_at"]
    list_filter = ["active", "channel"]
    search_fields = ["url", "description"]

    @admin.display(description=_("events"))
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events or [])
