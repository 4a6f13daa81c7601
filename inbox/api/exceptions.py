"""One place that turns domain errors into HTTP answers, so no view has to.

Services raise Django's ``ValidationError`` (a dict of field errors, or a message) and routing
raises ``WorkflowInvalid``; both are a client's mistake, hence 400. A body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413 rather than the 500 or bare HTML 400 Django would give.

Wired project-wide: ``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` in the settings.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

from routing.services import WorkflowInvalid


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def validation_error_detail(exc: DjangoValidationError, *, nest: dict[str, str] | None = None) -> dict[str, Any]:
    """DRF's error shape for a Django ``ValidationError``: ``{field: [messages]}``.

    A bare message goes under ``non_field_errors``. ``nest`` moves fields under a parent key,
    e.g. ``{"email": "contact"}`` answers ``{"contact": {"email": [...]}}``.
    """
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: list(exc.messages)}
    detail: dict[str, Any] = {}
    for field, errors in exc.message_dict.items():
        key = field if field != "__all__" else api_settings.NON_FIELD_ERRORS_KEY
        parent = (nest or {}).get(key)
        if parent is None:
            detail.setdefault(key, []).extend(errors)
        else:
            nested = detail.setdefault(parent, {})
            if isinstance(nested, list):  # the parent itself also had errors: keep both
                nested = detail[parent] = {api_settings.NON_FIELD_ERRORS_KEY: nested}
            nested.setdefault(key, []).extend(errors)
    return detail


def to_drf_validation_error(
    exc: DjangoValidationError, *, nest: dict[str, str] | None = None
) -> exceptions.ValidationError:
    return exceptions.ValidationError(validation_error_detail(exc, nest=nest))


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(_("The request body is larger than this server accepts."))
    elif isinstance(exc, DjangoValidationError):
        exc = to_drf_validation_error(exc)
    elif isinstance(exc, ProtectedError):
        exc = Conflict(_("It is still in use; remove what refers to it first."))
    elif isinstance(exc, WorkflowInvalid):
        set_rollback()
        return Response({"errors": [str(e) for e in exc.errors]}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)
