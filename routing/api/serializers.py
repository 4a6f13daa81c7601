from __future__ import annotations

from rest_framework import serializers

from routing.models import Run, RunLog, Workflow


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
    errors = serializers.ListField(child=serializers.CharField(), help_text="Each error names its step.")


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
