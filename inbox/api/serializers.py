"""Serializers of the inbox API. Read shapes name related objects the way workflows do:
teams by name, agents by username, channels by name."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.api.serializers import ContactSerializer
from inbox.models import Agent, Channel, Conversation, Delivery, Message, Team, WebhookSubscription


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class AgentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    teams = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "username",
            "email",
            "name",
            "teams",
            "availability",
            "is_active",
            "max_open",
            "open_count",
            "last_assigned_at",
        ]
        read_only_fields = fields


class AgentCreateSerializer(serializers.Serializer):
    """Input of ``POST /agents/``; the answer is an :class:`AgentSerializer`."""

    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    teams = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, default=list, help_text="Team names."
    )
    availability = serializers.ChoiceField(choices=Agent.Availability.choices, default=Agent.Availability.OFFLINE)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="Without one the agent cannot log in until an administrator sets it.",
    )

    def validate_teams(self, names: list[str]) -> list[Team]:
        wanted = list(dict.fromkeys(names))
        found = {team.name: team for team in Team.objects.filter(name__in=wanted)}
        unknown = [name for name in wanted if name not in found]
        if unknown:
            raise serializers.ValidationError(_("Unknown team: %(names)s.") % {"names": ", ".join(unknown)})
        return [found[name] for name in wanted]

    def validate_password(self, password: str) -> str:
        if password:
            try:
                validate_password(password)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(list(exc.messages)) from exc
        return password


class AgentAvailabilitySerializer(serializers.Serializer):
    availability = serializers.ChoiceField(choices=Agent.Availability.choices)


class ChannelSerializer(serializers.ModelSerializer):
    webhook_secret = serializers.SerializerMethodField(
        help_text="Signs outgoing webhooks (HMAC-SHA256); null unless you are an administrator."
    )

    class Meta:
        model = Channel
        fields = ["id", "kind", "name", "webhook_url", "webhook_secret", "language", "country", "created_at"]
        read_only_fields = ["id", "webhook_secret", "created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_webhook_secret(self, channel: Channel) -> str | None:
        request = self.context.get("request")
        if request is not None and request.user.is_superuser:
            return channel.webhook_secret
        return None

    def validate_country(self, value: str) -> str:
        value = value.strip()
        if value and (len(value) != 2 or not value.isascii() or not value.isalpha()):
            raise serializers.ValidationError(_("Use a two-letter ISO 3166 country code, e.g. ES."))
        return value.upper()

    def validate_language(self, value: str) -> str:
        return value.strip().lower()


class IncomingContactSerializer(serializers.Serializer):
    """Who wrote. Matched to a stored contact by external id, then e-mail, then phone."""

    external_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    email = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    phone = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        help_text="With its country code (E.164), or local to the contact's or channel's country.",
    )
    language = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    country = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False, help_text="ISO 3166-1 alpha-2."
    )


class IncomingMessageSerializer(serializers.Serializer):
    """A contact's message from an integration. Lengths and formats are checked by the inbox."""

    contact = IncomingContactSerializer(required=False, allow_null=True)
    text = serializers.CharField(trim_whitespace=False, help_text=f"At most {settings.MESSAGE_MAX_LENGTH} characters.")


class IncomingResultSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    message = serializers.IntegerField()


class ConversationSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name", read_only=True, allow_null=True, help_text="Team name.")
    assignee = serializers.CharField(
        source="assignee.user.username", read_only=True, allow_null=True, help_text="Agent username."
    )
    channel = serializers.CharField(source="channel.name", read_only=True, help_text="Channel name.")
    contact = ContactSerializer(read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "status",
            "source",
            "team",
            "assignee",
            "contact",
            "channel",
            "opened_at",
            "closed_at",
            "last_incoming_at",
            "last_outgoing_at",
        ]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    """Give the conversation to an agent, or to a team (its next agent by the strategy)."""

    team = serializers.CharField(required=False, max_length=128, help_text="Team name.")
    agent = serializers.CharField(required=False, max_length=150, help_text="Agent username.")
    strategy = serializers.ChoiceField(
        choices=[("round_robin", "Round robin"), ("least_open", "Least open conversations")],
        default="round_robin",
        help_text="How the team's agent is chosen when no agent is named.",
    )
    online_only = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("team") and not attrs.get("agent"):
            raise serializers.ValidationError(_("Name a team, an agent or both."))
        if attrs.get("team"):
            team = Team.objects.filter(name=attrs["team"]).first()
            if team is None:
                raise serializers.ValidationError({"team": [_("Unknown team: %(name)s.") % {"name": attrs["team"]}]})
            attrs["team"] = team
        if attrs.get("agent"):
            agent = Agent.objects.select_related("user").filter(user__username=attrs["agent"]).first()
            if agent is None:
                raise serializers.ValidationError({"agent": [_("Unknown agent: %(name)s.") % {"name": attrs["agent"]}]})
            attrs["agent"] = agent
        return attrs


class AssignResultSerializer(ConversationSerializer):
    detail = serializers.CharField(read_only=True, help_text="What happened, in words.")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "detail"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(
        source="author.get_username", read_only=True, allow_null=True, help_text="Username; null for the contact."
    )

    class Meta:
        model = Message
        fields = ["id", "direction", "text", "author", "created_at"]
        read_only_fields = fields


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, help_text=f"At most {settings.MESSAGE_MAX_LENGTH} characters.")


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    """An endpoint for events; the secret signs each delivery (HMAC-SHA256)."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookSubscription.Event.choices),
        min_length=1,
        max_length=len(WebhookSubscription.Event.values),
    )
    channel = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Channel.objects.all(),
        required=False,
        allow_null=True,
        help_text="Channel name: only its conversations' events; null for all channels.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "channel", "active", "secret", "description", "created_at"]
        read_only_fields = ["id", "secret", "created_at"]

    def validate_events(self, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "subscription",
            "message",
            "conversation",
            "url",
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields
