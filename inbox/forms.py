"""Forms of the agent inbox and the contact web chat: parse and validate, never write.

Writes go through ``inbox.services`` and ``routing.services``; the one exception is the
agent's own preferences (language, time zone), a plain ``ModelForm`` on their profile.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from inbox.models import Agent, Channel, Conversation, Team

# Texts of the shipped workflow templates (routing/workflow_templates/*.json) that the inbox
# and the web chat show as labels (shortcut names, form labels, answer options): listed here
# so that makemessages collects them; pages show them through gettext, while the values
# stored and matched stay the canonical English. What the bot says is the workflow's own text.
TEMPLATE_TEXTS = (
    gettext_noop("Escalate to second-line support"),
    gettext_noop("Hand the conversation to Billing or Technical support, with a summary for the next agent."),
    gettext_noop("Escalate to team"),
    gettext_noop("Escalation summary"),
    gettext_noop("Billing"),
    gettext_noop("Technical support"),
    gettext_noop("Sales"),
    gettext_noop("Support"),
    gettext_noop("Shipping"),
)


def add_service_errors(form: forms.Form, error: forms.ValidationError) -> None:
    """Put a service's ``ValidationError`` on the form: next to its field when it names one."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


WEBCHAT_MAX_LENGTH = 2000
SEARCH_MAX_LENGTH = 200


class ConversationFilterForm(forms.Form):
    """The list's tab, filters and search; invalid values fall back to the defaults."""

    TAB_MINE, TAB_UNASSIGNED, TAB_TEAMS, TAB_ALL = "mine", "unassigned", "teams", "all"
    STATUS_ALL = "all"

    tab = forms.ChoiceField(
        choices=[
            (TAB_MINE, _("Mine")),
            (TAB_UNASSIGNED, _("Unassigned")),
            (TAB_TEAMS, _("My teams")),
            (TAB_ALL, _("All")),
        ],
        required=False,
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[*Conversation.Status.choices, (STATUS_ALL, _("Any status"))], required=False
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("Any team")
    )
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.all(), required=False, empty_label=_("Any channel")
    )
    q = forms.CharField(label=_("Search"), max_length=SEARCH_MAX_LENGTH, required=False, strip=True)
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def __init__(self, data: Any, *, user, team_ids: list[int]) -> None:
        super().__init__(data)
        self.is_admin = user.is_superuser
        self.fields["team"].queryset = Team.objects.all() if self.is_admin else Team.objects.filter(pk__in=team_ids)
        if not self.is_admin:
            self.fields["tab"].choices = self.fields["tab"].choices[:3]
        self.fields["q"].widget.attrs["placeholder"] = _("Name, e-mail or text")

    def value(self, name: str) -> Any:
        """The cleaned value, or the default when it is missing or invalid."""
        cleaned = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        if name in cleaned and cleaned[name] not in (None, ""):
            return cleaned[name]
        return {
            "tab": self.TAB_ALL if self.is_admin else self.TAB_MINE,
            "status": Conversation.Status.OPEN,
            "page": 1,
            "q": "",
        }.get(name)

    def full_clean(self) -> None:
        super().full_clean()
        # Drop what did not validate, so the rest of the filters still apply.
        for name in list(self.errors):
            self.cleaned_data.pop(name, None)


class MessageForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"), max_length=settings.MESSAGE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class CommentForm(forms.Form):
    text = forms.CharField(
        label=_("Internal comment"),
        max_length=settings.MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Only agents see this.")}),
    )


class AssignForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.all(), required=False, empty_label="—")
    agent = forms.ModelChoiceField(
        label=_("Agent"),
        queryset=Agent.objects.filter(user__is_active=True).select_related("user"),
        required=False,
        empty_label="—",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"].label_from_instance = lambda agent: agent.username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("team") and not cleaned.get("agent"):
            raise forms.ValidationError(_("Choose a team, an agent or both."))
        return cleaned


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(label=_("Availability"), choices=Agent.Availability.choices)


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.ModelForm):
    """The agent's own language and time zone."""

    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)

    class Meta:
        model = Agent
        fields = ["language", "timezone"]


class ShortcutForm(forms.Form):
    """The form of a shortcut's trigger, rendered from its definition.

    Fields render with the right input types; the values are validated on the server by
    ``routing.services.clean_form`` (the API's rules), whose errors the view puts back
    next to the fields.
    """

    def __init__(self, definition: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definition = definition
        for spec in definition:
            name = spec.get("name")
            if not isinstance(name, str) or not name:
                continue
            kind = spec.get("type", "text")
            required = bool(spec.get("required"))
            label = gettext(spec.get("label") or name.replace("_", " ").capitalize())
            attrs = {"required": True} if required else {}
            if kind == "dropdown":
                options = [str(o) for o in spec.get("options") or []]
                choices = [("", "—"), *((o, gettext(o)) for o in options)]
                field: forms.Field = forms.CharField(widget=forms.Select(choices=choices, attrs=attrs))
            elif kind == "email":
                field = forms.CharField(widget=forms.EmailInput(attrs=attrs))
            elif kind == "number":
                field = forms.CharField(widget=forms.NumberInput(attrs={**attrs, "step": "any"}))
            else:
                field = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={**attrs, "rows": 3}))
            field.required = False  # the server rules of clean_form decide
            field.label = label
            if not required:
                field.help_text = _("Optional")
            self.fields[name] = field

    def raw_values(self) -> dict[str, Any]:
        return {name: self.data.get(name, "") for name in self.fields}


class WebChatStartForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=255)
    email = forms.EmailField(label=_("E-mail (optional)"), required=False)
    text = forms.CharField(
        label=_("How can we help?"), max_length=WEBCHAT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class WebChatMessageForm(forms.Form):
    text = forms.CharField(label=_("Message"), max_length=WEBCHAT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2}))
