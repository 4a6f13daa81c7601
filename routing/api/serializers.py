from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from routing.models import AllowedHost, Connection, Run, RunLog, Workflow


class WorkflowSerializer(serializers.ModelSerializer):
    published_version = serializers.IntegerField(
        source="published_version.number", read_only=True, allow_null=True, help_text="Live version number."
    )
    definition = serializers.JSONField(read_only=True, help_text="The draft, in the workflow JSON format.")
    has_unpublished_changes = serializers.BooleanField(read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "trigger_type",
            "is_active",
            "published_version",
            "has_unpublished_changes",
            "definition",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WorkflowDefinitionSerializer(serializers.Serializer):
    """The workflow JSON (SPEC "Contract: workflows as JSON"), sent as the request body itself.

    Only documents the shape: the routing service checks it, and publishing validates the graph.
    """

    name = serializers.CharField(max_length=200)
    trigger = serializers.DictField(
        required=False, help_text='{"type": "conversation_opened" | "shortcut", "conditions": [...], "form": [...]}'
    )
    start = serializers.CharField(required=False, help_text="Id of the first step.")
    steps = serializers.DictField(child=serializers.DictField(), help_text="Step id → step object with a 'type'.")


class WorkflowErrorsSerializer(serializers.Serializer):
    """A refused workflow: ``errors`` naming the steps; a body that is no JSON at all gets ``detail``."""

    errors = serializers.ListField(child=serializers.CharField(), required=False, help_text="Each names its step.")
    detail = serializers.CharField(required=False, help_text="Why the body could not be read.")


class PublishResultSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    workflow_id = serializers.IntegerField()


class ValidateResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())


class RunLogSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="step_type", read_only=True)

    class Meta:
        model = RunLog
        fields = ["seq", "step", "type", "outcome", "detail", "at"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    workflow = serializers.CharField(source="workflow.name", read_only=True, help_text="Workflow name.")
    workflow_id = serializers.IntegerField(read_only=True)
    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, help_text="Version number.")
    variables = serializers.DictField(read_only=True)
    log = RunLogSerializer(many=True, read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "workflow_id",
            "version",
            "conversation",
            "status",
            "current_step",
            "variables",
            "error",
            "started_at",
            "finished_at",
            "log",
        ]
        read_only_fields = fields


class ShortcutFormFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField(required=False)
    type = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField(), required=False)
    required = serializers.BooleanField(required=False)


class ShortcutSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The shortcut's id is its workflow's id.")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    form = ShortcutFormFieldSerializer(many=True)


class RunStartedSerializer(serializers.Serializer):
    run = serializers.IntegerField()


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection of the HTTP request step. Secret headers can be set, never read back."""

    secret_headers = serializers.DictField(
        child=serializers.CharField(max_length=4000, trim_whitespace=False),
        write_only=True,
        required=False,
        help_text='Header name to value, e.g. {"X-Api-Key": "..."}; write-only.',
    )
    secret_header_names = serializers.SerializerMethodField(help_text="Names of the secret headers set.")

    class Meta:
        model = Connection
        fields = ["id", "name", "base_url", "secret_headers", "secret_header_names", "description", "updated_at"]
        read_only_fields = ["id", "secret_header_names", "updated_at"]

    def get_secret_header_names(self, connection: Connection) -> list[str]:
        return sorted(connection.secret_headers or {})

    def validate_secret_headers(self, value: dict[str, str]) -> dict[str, str]:
        from routing.steps.http import header_errors

        errors = header_errors(value, templates=False)
        if errors:
            raise serializers.ValidationError(errors)
        return value


class AllowedHostSerializer(serializers.ModelSerializer):
    class Meta:
        model = AllowedHost
        fields = ["id", "value", "note", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_value(self, value: str) -> str:
        host = AllowedHost(value=value)
        try:
            host.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict.get("value", exc.messages)) from exc
        return host.value
