"""Inbox API: teams, agents, channels (and their incoming endpoint), conversations, messages.

Views are thin: parse with a serializer, authorize with ``visible_to`` querysets (what you may
not see is a 404), call an ``inbox.services`` function, render.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from contacts.services import CONTACT_INPUT_FIELDS
from inbox import services
from inbox.api.base import AgentsReadAdminsWrite, ApiMixin, IsAgentOrAdmin, IsIntegrator, IsSuperuser
from inbox.api.exceptions import to_drf_validation_error
from inbox.api.serializers import (
    AgentAvailabilitySerializer,
    AgentCreateSerializer,
    AgentSerializer,
    AssignResultSerializer,
    AssignSerializer,
    ChannelSerializer,
    ConversationSerializer,
    DeliverySerializer,
    IncomingMessageSerializer,
    IncomingResultSerializer,
    MessageSerializer,
    TeamSerializer,
    TextSerializer,
    WebhookSubscriptionSerializer,
)
from inbox.models import Agent, Channel, Conversation, Delivery, Message, Team, WebhookSubscription

ERRORS_400 = OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors: {field: [messages]}.")
CONTACT_FIELDS_NESTING = dict.fromkeys(CONTACT_INPUT_FIELDS, "contact")


@extend_schema_view(
    list=extend_schema(summary="Teams"),
    retrieve=extend_schema(summary="A team"),
    create=extend_schema(summary="Create a team (administrators)", responses={201: TeamSerializer, 400: ERRORS_400}),
    partial_update=extend_schema(summary="Rename a team (administrators)"),
    update=extend_schema(summary="Rename a team (administrators)"),
    destroy=extend_schema(summary="Delete a team (administrators)"),
)
class TeamViewSet(ApiMixin, viewsets.ModelViewSet):
    """Teams are plain configuration: saved by their serializer, no service needed."""

    queryset = Team.objects.order_by("name")
    serializer_class = TeamSerializer
    permission_classes = [AgentsReadAdminsWrite]
    lookup_value_regex = r"\d+"


@extend_schema_view(
    list=extend_schema(summary="Agents"),
    retrieve=extend_schema(summary="An agent"),
)
class AgentViewSet(
    ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = AgentSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_fields = ["availability"]

    def get_queryset(self) -> QuerySet[Agent]:
        return Agent.objects.select_related("user").prefetch_related("teams").order_by("user__username", "id")

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsSuperuser()]
        return [IsAgentOrAdmin()]

    @extend_schema(
        summary="Create an agent (administrators)",
        request=AgentCreateSerializer,
        responses={201: AgentSerializer, 400: ERRORS_400},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        payload = AgentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        agent = services.create_agent(
            username=data["username"],
            email=data["email"],
            name=data["name"],
            teams=data["teams"],
            availability=data["availability"],
            password=data["password"] or None,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=agent.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Set an agent's availability (yourself; administrators anyone)",
        request=AgentAvailabilitySerializer,
        responses={200: AgentSerializer, 400: ERRORS_400},
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        agent = self.get_object()
        if not request.user.is_superuser and agent.user_id != request.user.pk:
            raise PermissionDenied("You may change only your own availability.")
        payload = AgentAvailabilitySerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        if "availability" in payload.validated_data:
            services.set_availability(agent, payload.validated_data["availability"])
        return Response(self.get_serializer(self.get_queryset().get(pk=agent.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="Channels"),
    retrieve=extend_schema(summary="A channel"),
    create=extend_schema(
        summary="Create a channel (administrators)", responses={201: ChannelSerializer, 400: ERRORS_400}
    ),
    partial_update=extend_schema(summary="Change a channel (administrators)"),
    update=extend_schema(summary="Change a channel (administrators)"),
    destroy=extend_schema(summary="Delete a channel (administrators); refused (409) while it has conversations"),
)
class ChannelViewSet(ApiMixin, viewsets.ModelViewSet):
    """Channels are plain configuration: saved by their serializer, no service needed."""

    queryset = Channel.objects.order_by("name")
    serializer_class = ChannelSerializer
    permission_classes = [AgentsReadAdminsWrite]
    lookup_value_regex = r"\d+"

    @extend_schema(
        summary="A contact wrote: receive the message (integrator's token)",
        description=(
            "Finds or creates the contact, opens a conversation if the contact has none open on "
            "this channel (else appends to it), and wakes the routing workflows. Contact errors "
            'are answered as `{"contact": {field: [...]}}`.'
        ),
        request=IncomingMessageSerializer,
        responses={201: IncomingResultSerializer, 400: ERRORS_400},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsIntegrator])
    def incoming(self, request: Request, pk: str | None = None) -> Response:
        channel = self.get_object()
        payload = IncomingMessageSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            conversation, message = services.receive_message(
                channel, payload.validated_data.get("contact"), payload.validated_data["text"]
            )
        except DjangoValidationError as exc:
            raise to_drf_validation_error(exc, nest=CONTACT_FIELDS_NESTING) from exc
        return Response({"conversation": conversation.pk, "message": message.pk}, status=status.HTTP_201_CREATED)


class ConversationPagination(CursorPagination):
    ordering = ("-opened_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Conversation.Status.choices)
    team = filters.CharFilter(field_name="team__name", help_text="Team name.")
    assignee = filters.CharFilter(field_name="assignee__user__username", help_text="Agent username.")
    unassigned = filters.BooleanFilter(field_name="assignee", lookup_expr="isnull", help_text="Only unassigned.")
    channel = filters.CharFilter(field_name="channel__name", help_text="Channel name.")

    class Meta:
        model = Conversation
        fields = ["status", "team", "assignee", "unassigned", "channel"]


@extend_schema_view(
    list=extend_schema(summary="Conversations you can see, newest first"),
    retrieve=extend_schema(summary="A conversation", responses={200: ConversationSerializer}),
)
class ConversationViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ConversationSerializer
    pagination_class = ConversationPagination
    filterset_class = ConversationFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.visible_to(self.request.user).select_related(
            "contact", "channel", "team", "assignee__user"
        )

    def _fresh(self, conversation: Conversation) -> Conversation:
        # Not through visible_to: an agent who just handed it to another team may no longer see it.
        return Conversation.objects.select_related("contact", "channel", "team", "assignee__user").get(
            pk=conversation.pk
        )

    @extend_schema(
        summary="Assign to an agent or a team",
        request=AssignSerializer,
        responses={200: AssignResultSerializer, 400: ERRORS_400},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = services.assign(
            conversation,
            team=data.get("team"),
            agent=data.get("agent"),
            strategy=data["strategy"],
            online_only=data["online_only"],
            reason=f"By {request.user.get_username()} through the API.",
        )
        conversation = self._fresh(conversation)
        conversation.detail = result.detail
        return Response(AssignResultSerializer(conversation, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Unassign (it stays with its team)",
        request=None,
        responses={200: ConversationSerializer},
    )
    @action(detail=True, methods=["post"])
    def unassign(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        services.unassign(conversation, reason=f"By {request.user.get_username()} through the API.")
        return Response(self.get_serializer(self._fresh(conversation)).data)

    @extend_schema(summary="Close (no-op when closed)", request=None, responses={200: ConversationSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        services.close_conversation(conversation)
        return Response(self.get_serializer(self._fresh(conversation)).data)

    @extend_schema(
        summary="Reopen (no-op when open)",
        request=None,
        responses={200: ConversationSerializer, 400: ERRORS_400},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        services.reopen_conversation(conversation)
        return Response(self.get_serializer(self._fresh(conversation)).data)

    @extend_schema(
        methods=["GET"],
        summary="Messages and internal comments, oldest first (a plain list, not paginated)",
        responses={200: MessageSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Send an outgoing message to the contact",
        request=TextSerializer,
        responses={201: MessageSerializer, 400: ERRORS_400},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        if request.method == "POST":
            payload = TextSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            message = services.send_message(conversation, payload.validated_data["text"], author=request.user)
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        messages = (
            Message.objects.filter(conversation=conversation).select_related("author").order_by("created_at", "id")
        )
        return Response(MessageSerializer(messages, many=True).data)

    @extend_schema(
        summary="Add an internal comment (agents see it, the contact never does)",
        request=TextSerializer,
        responses={201: MessageSerializer, 400: ERRORS_400},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        payload = TextSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = services.add_comment(conversation, payload.validated_data["text"], author=request.user)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Webhook subscriptions (administrators)"),
    retrieve=extend_schema(summary="A webhook subscription"),
    create=extend_schema(
        summary="Subscribe a URL to events: message.outgoing, conversation.assigned, conversation.closed, run.failed",
        responses={201: WebhookSubscriptionSerializer, 400: ERRORS_400},
    ),
    update=extend_schema(summary="Change a webhook subscription"),
    partial_update=extend_schema(summary="Change a webhook subscription"),
    destroy=extend_schema(summary="Delete a webhook subscription and its delivery log"),
)
class WebhookSubscriptionViewSet(ApiMixin, viewsets.ModelViewSet):
    """Plain configuration, saved by its serializer; events are emitted by ``inbox.webhooks``."""

    queryset = WebhookSubscription.objects.select_related("channel").order_by("id")
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [IsSuperuser]
    lookup_value_regex = r"\d+"


@extend_schema_view(
    list=extend_schema(summary="The webhook delivery log, newest first (administrators)"),
    retrieve=extend_schema(summary="A webhook delivery"),
)
class DeliveryViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Delivery.objects.order_by("-id")
    serializer_class = DeliverySerializer
    permission_classes = [IsSuperuser]
    lookup_value_regex = r"\d+"
    filterset_fields = ["status", "event", "subscription"]
