"""Routing API: workflows (draft, publish, validate, import/export), runs, shortcuts.

Workflow bodies are the workflow JSON itself, not wrapped. Writes go through
``routing.services``; ``WorkflowInvalid`` becomes 400 ``{"errors": [...]}`` in the shared
exception handler.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.base import ApiMixin, IsSuperuser
from inbox.models import Conversation
from routing import services
from routing.api.serializers import (
    AllowedHostSerializer,
    ConnectionSerializer,
    PublishResultSerializer,
    RunSerializer,
    RunStartedSerializer,
    ShortcutSerializer,
    ValidateResultSerializer,
    WorkflowDefinitionSerializer,
    WorkflowErrorsSerializer,
    WorkflowSerializer,
)
from routing.models import AllowedHost, Connection, Run, RunLog, Workflow

INVALID = OpenApiResponse(WorkflowErrorsSerializer, description="The workflow is not valid; each error names its step.")
ERRORS_400 = OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors: {field: [messages]}.")
PUBLISH_PARAM = OpenApiParameter(
    "publish", OpenApiTypes.BOOL, description="Also publish it; nothing is stored if publishing fails."
)


def _body(request: Request) -> Any:
    # An empty body parses as {}; anything else is handed to the service as sent, to be judged there.
    return request.data


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@extend_schema_view(
    list=extend_schema(summary="Workflows (administrators)"),
    retrieve=extend_schema(summary="A workflow with its draft", responses={200: WorkflowSerializer}),
    destroy=extend_schema(summary="Delete a workflow that never ran (409 once it has runs: deactivate it instead)"),
)
class WorkflowViewSet(ApiMixin, viewsets.ModelViewSet):
    serializer_class = WorkflowSerializer
    permission_classes = [IsSuperuser]
    lookup_value_regex = r"\d+"
    filterset_fields = ["trigger_type", "is_active"]

    def get_queryset(self) -> QuerySet[Workflow]:
        return Workflow.objects.select_related("published_version").order_by("name", "id")

    def _render(self, workflow: Workflow, *, code: int = status.HTTP_200_OK) -> Response:
        workflow = self.get_queryset().get(pk=workflow.pk)
        return Response(self.get_serializer(workflow).data, status=code)

    @extend_schema(
        summary="Create a draft from the workflow JSON",
        request=WorkflowDefinitionSerializer,
        responses={201: WorkflowSerializer, 400: INVALID},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        workflow = services.create_workflow(_body(request))
        return self._render(workflow, code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace the draft (the live version is untouched until publish)",
        request=WorkflowDefinitionSerializer,
        responses={200: WorkflowSerializer, 400: INVALID},
    )
    def update(self, request: Request, *args, **kwargs) -> Response:
        workflow = services.update_draft(self.get_object(), _body(request))
        return self._render(workflow)

    @extend_schema(
        summary="Replace the draft (same as PUT: the body is the whole workflow JSON)",
        request=WorkflowDefinitionSerializer,
        responses={200: WorkflowSerializer, 400: INVALID},
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        return self.update(request, *args, **kwargs)

    @extend_schema(
        summary="Validate the draft and make it the live version",
        request=None,
        responses={200: PublishResultSerializer, 400: INVALID},
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        version = services.publish(self.get_object(), user=request.user)
        return Response(
            {"version": version.number, "published_at": version.published_at, "workflow_id": version.workflow_id}
        )

    @extend_schema(
        summary="Check the draft as publishing would, without publishing",
        request=None,
        responses={200: ValidateResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: str | None = None) -> Response:
        errors = services.validate_definition(self.get_object().definition)
        return Response({"valid": not errors, "errors": errors})

    @extend_schema(
        summary="The draft as workflow JSON, ready to import elsewhere",
        responses={200: OpenApiResponse(WorkflowDefinitionSerializer)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def export(self, request: Request, pk: str | None = None) -> Response:
        return Response(services.export_workflow(self.get_object()))

    @extend_schema(
        summary="Import workflow JSON as a new workflow (optionally publishing it)",
        request=WorkflowDefinitionSerializer,
        parameters=[PUBLISH_PARAM],
        responses={201: WorkflowSerializer, 400: INVALID},
    )
    @action(detail=False, methods=["post"], url_path="import", filter_backends=[], pagination_class=None)
    def import_(self, request: Request) -> Response:
        with transaction.atomic():
            workflow = services.create_workflow(_body(request))
            if _truthy(request.query_params.get("publish")):
                services.publish(workflow, user=request.user)
        return self._render(workflow, code=status.HTTP_201_CREATED)


def _runs(user) -> QuerySet[Run]:
    return (
        Run.objects.visible_to(user)
        .select_related("workflow", "version")
        .prefetch_related(Prefetch("log", queryset=RunLog.objects.order_by("id")))
    )


@extend_schema_view(
    list=extend_schema(summary="Runs of the conversations you can see, newest first"),
    retrieve=extend_schema(summary="A run with its log", responses={200: RunSerializer}),
)
class RunViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RunSerializer
    lookup_value_regex = r"\d+"
    filterset_fields = ["status", "workflow", "conversation"]

    def get_queryset(self) -> QuerySet[Run]:
        return _runs(self.request.user).order_by("-started_at", "-id")


def _visible_conversation(request: Request, conversation_id: int) -> Conversation:
    return get_object_or_404(Conversation.objects.visible_to(request.user), pk=conversation_id)


class ConversationRunsView(ApiMixin, APIView):
    @extend_schema(
        summary="Workflow runs of a conversation with their logs, oldest first (a plain list)",
        responses={200: RunSerializer(many=True)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = _visible_conversation(request, conversation_id)
        runs = _runs(request.user).filter(conversation=conversation).order_by("started_at", "id")
        return Response(RunSerializer(runs, many=True).data)


def _live_shortcuts() -> QuerySet[Workflow]:
    return Workflow.objects.filter(
        trigger_type=Workflow.Trigger.SHORTCUT, is_active=True, published_version__isnull=False
    ).select_related("published_version")


class ConversationShortcutsView(ApiMixin, APIView):
    @extend_schema(
        summary="Shortcuts an agent can start on this conversation, with their forms",
        responses={200: ShortcutSerializer(many=True)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        _visible_conversation(request, conversation_id)
        shortcuts = []
        for workflow in _live_shortcuts().order_by("name", "id"):
            trigger = workflow.published_version.definition.get("trigger") or {}
            shortcuts.append(
                {
                    "id": workflow.pk,
                    "name": trigger.get("name") or workflow.name,
                    "description": trigger.get("description") or "",
                    "form": [{"label": field.get("name", ""), **field} for field in trigger.get("form") or []],
                }
            )
        return Response(ShortcutSerializer(shortcuts, many=True).data)


class StartShortcutView(ApiMixin, APIView):
    @extend_schema(
        summary="Start a shortcut on a conversation with the form's values",
        description="The body is the form: `{field name: value}`. Values become `var.<name>` in the run.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: RunStartedSerializer, 400: ERRORS_400},
    )
    def post(self, request: Request, conversation_id: int, shortcut_id: int) -> Response:
        conversation = _visible_conversation(request, conversation_id)
        workflow = get_object_or_404(_live_shortcuts(), pk=shortcut_id)
        try:
            run = services.start_shortcut(workflow, conversation, user=request.user, values=request.data)
        except services.WorkflowInvalid as exc:
            # Unpublished or deactivated since we looked: for the caller it is simply not there.
            raise Http404 from exc
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="Connections of the HTTP request step (administrators; secrets never shown)"),
    retrieve=extend_schema(summary="A connection"),
    create=extend_schema(summary="Create a connection", responses={201: ConnectionSerializer, 400: ERRORS_400}),
    update=extend_schema(summary="Change a connection"),
    partial_update=extend_schema(summary="Change a connection"),
    destroy=extend_schema(summary="Delete a connection"),
)
class ConnectionViewSet(ApiMixin, viewsets.ModelViewSet):
    """Plain configuration, saved by its serializer."""

    queryset = Connection.objects.order_by("name", "id")
    serializer_class = ConnectionSerializer
    permission_classes = [IsSuperuser]
    lookup_value_regex = r"\d+"


@extend_schema_view(
    list=extend_schema(summary="The HTTP allowlist: internal hosts and networks HTTP requests may reach"),
    retrieve=extend_schema(summary="An allowlist entry"),
    create=extend_schema(summary="Allow a host or network", responses={201: AllowedHostSerializer, 400: ERRORS_400}),
    update=extend_schema(summary="Change an allowlist entry"),
    partial_update=extend_schema(summary="Change an allowlist entry"),
    destroy=extend_schema(summary="Remove an allowlist entry"),
)
class AllowedHostViewSet(ApiMixin, viewsets.ModelViewSet):
    queryset = AllowedHost.objects.order_by("value", "id")
    serializer_class = AllowedHostSerializer
    permission_classes = [IsSuperuser]
    lookup_value_regex = r"\d+"
