from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from contacts import services
from contacts.api.serializers import ContactSerializer, ContactUpdateSerializer
from contacts.models import Contact
from inbox.api.base import ApiMixin, IsAgentOrAdmin, IsSuperuser
from inbox.api.exceptions import validation_error_detail
from inbox.models import Conversation


def contacts_visible_to(user) -> QuerySet[Contact]:
    """Admins see every contact; an agent those of the conversations it can see."""
    if user.is_superuser:
        return Contact.objects.all()
    return Contact.objects.filter(pk__in=Conversation.objects.visible_to(user).values("contact_id"))


@extend_schema_view(
    list=extend_schema(summary="Contacts you can see"),
    retrieve=extend_schema(summary="A contact"),
    partial_update=extend_schema(
        summary="Change a contact (administrators)",
        request=ContactUpdateSerializer,
        responses={200: ContactSerializer, 400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors.")},
    ),
)
class ContactViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ContactSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "patch", "head", "options"]
    filterset_fields = ["external_id", "email", "phone"]

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAgentOrAdmin()]
        return [IsSuperuser()]

    def get_queryset(self) -> QuerySet[Contact]:
        return contacts_visible_to(self.request.user).order_by("-created_at", "-id")

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        contact = self.get_object()
        payload = ContactUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        custom = changes.pop("fields", {})
        try:
            with transaction.atomic():
                for key, value in changes.items():
                    contact = services.set_field(contact, key, value)
                for key, value in custom.items():
                    try:
                        contact = services.set_field(contact, key, value)
                    except DjangoValidationError as exc:
                        raise serializers.ValidationError({"fields": {key: exc.messages}}) from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(validation_error_detail(exc)) from exc
        except IntegrityError as exc:
            # The only unique contact field: two contacts cannot share an external id.
            raise serializers.ValidationError(
                {"external_id": [_("Another contact already has this external id.")]}
            ) from exc
        contact.refresh_from_db()
        return Response(ContactSerializer(contact, context=self.get_serializer_context()).data)
